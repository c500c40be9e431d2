import { parseArgs } from 'node:util';
import { CASE_IDS, CASES, runChaosCase } from '../chaos/cases';
import { passed, table, type CaseResult } from '../chaos/report';
import { startChaosStack } from '../chaos/stack';
import { LLM_CALL_PLACES, type LlmCallPlace } from '../common/types';

// `npm run chaos [-- --quick] [-- --case R1,R3] [-- --llm-calls worker]`: breaks a stack of its own on purpose (chaos/stack.ts)
// and measures what a user would notice: the cases R1–R8 of the reliability section of the README.
// Prints each case's figures, then a table; exits 1 when a figure falls short. CHAOS_KEEP=1 keeps the
// run's directory (logs, ledger, Temporal database) for a look afterwards.

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    case: { type: 'string' },
    'llm-calls': { type: 'string', default: 'queue' },
  },
});

const wanted = values.case ? values.case.split(',').map((c) => c.trim().toUpperCase()) : [...CASE_IDS];
const unknown = wanted.filter((c) => !(CASE_IDS as readonly string[]).includes(c));
if (unknown.length) {
  console.error(`chaos: unknown case ${unknown.join(', ')} (cases: ${CASE_IDS.join(', ')})`);
  process.exit(2);
}

const llmCalls = values['llm-calls'] as LlmCallPlace;
if (!(LLM_CALL_PLACES as readonly string[]).includes(llmCalls)) {
  console.error(`chaos: --llm-calls is one of ${LLM_CALL_PLACES.join(', ')}`);
  process.exit(2);
}

async function main(): Promise<number> {
  const started = Date.now();
  const stack = await startChaosStack({ llmCalls });
  const results: CaseResult[] = [];
  try {
    for (const def of CASES.filter((c) => wanted.includes(c.id))) results.push(await runChaosCase(def, stack, values.quick));
  } finally {
    if (process.env.CHAOS_KEEP) console.log(`chaos: the run's files are in ${stack.dir}`);
    await stack.stop();
  }
  console.log(`\n${table(results)}\n`);
  const failed = results.filter((r) => !passed(r));
  console.log(
    `chaos: ${results.length - failed.length}/${results.length} cases passed in ${Math.round((Date.now() - started) / 1000)}s${values.quick ? ' (quick sizes)' : ''}${llmCalls === 'worker' ? ", calls in the agents' worker" : ''}`,
  );
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`chaos: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
