import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CASES, runChaosCase, type CaseId } from '../chaos/cases';
import { passed } from '../chaos/report';
import { startChaosStack, type ChaosStack } from '../chaos/stack';
import { testLogStream } from './helpers/logs';

// The quick cases of `npm run chaos` (chaos/cases.ts) inside `npm test`, on a chaos stack of their own
// (its own dev server on a database file, which R2 restarts, and its own redis-server). R1, R3 and R8
// take a minute or more each here, so they run in `npm run chaos -- --quick` only.

const QUICK: CaseId[] = ['R2', 'R4', 'R5', 'R6', 'R7'];

let stack: ChaosStack;
before(async () => {
  const out = testLogStream();
  stack = await startChaosStack({ log: (line) => out?.write(`chaos: ${line}\n`), bundle: process.env.WORKFLOW_BUNDLE });
});
after(async () => {
  await stack?.stop();
});

describe('chaos, quick sizes', () => {
  for (const id of QUICK) {
    const def = CASES.find((c) => c.id === id)!;
    test(`${id}: ${def.title}`, async () => {
      const result = await runChaosCase(def, stack, true);
      const failing = result.checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.figure}`);
      assert.ok(passed(result), [...failing, ...(result.error ? [result.error] : [])].join('\n'));
    });
  }
});
