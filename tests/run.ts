import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../devstack/processes';
import { startStack } from '../devstack/stack';

// The test run: the stack (devstack/stack.ts: a real dev server, real Redis, the workflow bundle built once
// for every test file), then node's test runner over tests/*.test.ts, one file at a time.

async function main(): Promise<number> {
  const stack = await startStack((line) => console.log(`tests: ${line}`));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, ...stack.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
    delete env.LLM_MODE;
    delete env.OPENROUTER_API_KEY;
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
    await stack.stop();
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
