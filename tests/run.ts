import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../devstack/processes';
import { startStack, type Stack } from '../devstack/stack';

// The test run: `tsx tests/run.ts [--unit] [substring...]`.
// - tests/unit/*.test.ts need no server: run alone with --unit (`npm run test:unit`), nothing started.
// - tests/*.test.ts need the stack (devstack/stack.ts: a real dev server, real Redis, the workflow
//   bundle built once); without --unit both sets run, the unit tests first, against that stack.
// node's test runner runs one file at a time. Logs of the test workers, the Temporal SDK, child
// processes and the dev server go to a log file, so the output is the runner's report alone.

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const only = args.filter((a) => a !== '--unit');

function testFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir))
    .filter((f) => f.endsWith('.test.ts') && (only.length === 0 || only.some((o) => join(dir, f).includes(o))))
    .sort()
    .map((f) => join(dir, f));
}

const logFile = join(REPO_ROOT, '.tmp', unitOnly ? 'tests-unit.log' : 'tests.log');
const shownLog = relative(process.cwd(), logFile) || logFile;

async function main(): Promise<number> {
  mkdirSync(join(REPO_ROOT, '.tmp'), { recursive: true });
  writeFileSync(logFile, '');
  console.log(`tests: worker, SDK and dev server logs go to ${shownLog}`);

  const files = [...testFiles(join('tests', 'unit')), ...(unitOnly ? [] : testFiles('tests'))];
  if (files.length === 0) {
    console.error(`tests: no test file matches ${only.join(', ')}`);
    return 1;
  }
  let stack: Stack | undefined;
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', TEST_LOG_FILE: logFile };
    delete env.LLM_MODE;
    delete env.OPENROUTER_API_KEY;
    if (unitOnly) {
      // Nothing answers here: a unit test that reaches for a server fails instead of finding one.
      Object.assign(env, { TEMPORAL_ADDRESS: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' });
      delete env.WORKFLOW_BUNDLE;
    } else if (files.some((f) => !f.startsWith(join('tests', 'unit')))) {
      stack = await startStack({ log: (line) => console.log(`tests: ${line}`), logFile });
      Object.assign(env, stack.env);
    }
    const runner = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
      cwd: REPO_ROOT,
      env,
      stdio: 'inherit',
    });
    const code = await new Promise<number>((resolve) => runner.on('exit', (c) => resolve(c ?? 1)));
    if (code !== 0) console.log(`tests: failed; the logs of this run are in ${shownLog}`);
    return code;
  } finally {
    await stack?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`tests: ${err.message}`);
    console.log(`tests: failed; the logs of this run are in ${shownLog}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
