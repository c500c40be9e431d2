import { bundleWorkflowCode } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKFLOWS_PATH } from '../workers/create';
import { REPO_ROOT, stopProcess } from '../lib/processes';
import { connectRedis } from '../lib/redis';
import { ensureTemporalCli, freePort, startDevServer, type DevServer } from '../lib/temporalServer';

// The test run: a real Temporal dev server on free ports (unless TEMPORAL_ADDRESS is given), real
// Redis (a redis-server of our own on a free port when none answers at REDIS_URL), the workflow
// bundle built once for every test file, then node's test runner over tests/*.test.ts.

async function main(): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  delete env.LLM_MODE;
  delete env.OPENROUTER_API_KEY;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const cli = await ensureTemporalCli();
    env.TEMPORAL_CLI_PATH = cli;
    if (!process.env.TEMPORAL_ADDRESS) {
      const server: DevServer = await startDevServer({ cli, port: await freePort() });
      cleanups.push(() => server.stop());
      env.TEMPORAL_ADDRESS = server.address;
      console.log(`tests: Temporal dev server at ${server.address}`);
    }

    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    try {
      (await connectRedis(redisUrl)).disconnect();
      env.REDIS_URL = redisUrl;
    } catch {
      const port = await freePort();
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      child.on('error', (err) => console.error(`tests: cannot start redis-server: ${err.message}`));
      cleanups.push(() => stopProcess(child));
      env.REDIS_URL = `redis://127.0.0.1:${port}`;
      await new Promise((r) => setTimeout(r, 500));
      (await connectRedis(env.REDIS_URL)).disconnect();
    }
    console.log(`tests: Redis at ${env.REDIS_URL}`);

    const tmp = join(REPO_ROOT, '.tmp');
    mkdirSync(tmp, { recursive: true });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
    env.WORKFLOW_BUNDLE = join(tmp, 'workflow-bundle.js');
    writeFileSync(env.WORKFLOW_BUNDLE, code);

    const only = process.argv.slice(2);
    const files = readdirSync(join(REPO_ROOT, 'tests'))
      .filter((f) => f.endsWith('.test.ts') && (only.length === 0 || only.some((o) => f.includes(o))))
      .sort()
      .map((f) => join('tests', f));
    const runner = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
      cwd: REPO_ROOT,
      env,
      stdio: 'inherit',
    });
    return await new Promise<number>((resolve) => runner.on('exit', (c) => resolve(c ?? 1)));
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`tests: ${err.message}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
