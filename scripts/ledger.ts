import { parseArgs } from 'node:util';
import { Ledger } from '../lib/ledger';
import { config } from '../lib/config';

// `npm run ledger -- prune --older-than 90d [--dry-run]`: removes the ledger rows of pipeline runs that
// finished (have a result row) longer ago than that, in one transaction, and prints what it removed.
// A running pipeline has no result row, so it is never touched. Run it where the ledger worker runs
// (LEDGER_PATH); SQLite's WAL lets it run beside the worker.

const USAGE = 'usage: npm run ledger -- prune --older-than <N>d [--dry-run]';

export function parseAge(text: string): number {
  const m = /^(\d+)d$/.exec(text);
  if (!m || Number(m[1]) < 1) throw new Error(`--older-than wants a whole number of days, such as 90d (got "${text}")`);
  return Number(m[1]) * 86_400_000;
}

function main(): number {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
  });
  if (positionals[0] !== 'prune' || positionals.length !== 1 || !values['older-than']) {
    console.error(USAGE);
    return 2;
  }
  const before = new Date(Date.now() - parseAge(values['older-than'])).toISOString();
  const ledger = new Ledger(config().LEDGER_PATH);
  try {
    const dry = values['dry-run'];
    const report = ledger.prune(before, dry);
    console.log(`${dry ? 'would remove' : 'removed'} ${report.runs.length} finished pipeline run(s) with a result before ${before} from ${ledger.path}`);
    for (const [table, n] of Object.entries(report.rows)) console.log(`  ${table.padEnd(16)} ${n}`);
    for (const r of report.runs) console.log(`  ${r.pipelineId} (run ${r.runKey})`);
    return 0;
  } finally {
    ledger.close();
  }
}

try {
  process.exitCode = main();
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 2;
}
