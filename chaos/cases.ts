import { runCase, type CaseRecorder, type CaseResult } from './report';
import type { ChaosStack } from './stack';
import { floods } from './floods';
import { ledgerStall } from './ledgerStall';
import { llmFaults } from './llmFaults';
import { replayHistories } from './replay';
import { secrets } from './secrets';
import { redisLoss, temporalRestart } from './restarts';
import { workerKills } from './workerKills';

// The cases of `npm run chaos` (the issue's table R1–R8), each at a full and a quick size. The quick
// sizes run inside `npm test` (tests/chaosQuick.test.ts).

export const CASE_IDS = ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8'] as const;
export type CaseId = (typeof CASE_IDS)[number];

export interface CaseDef {
  id: CaseId;
  title: string;
  /** Needs a Temporal server of its own (R2 restarts it). */
  ownsTemporal?: boolean;
  run(stack: ChaosStack, rec: CaseRecorder, quick: boolean): Promise<void>;
}

export const CASES: CaseDef[] = [
  {
    id: 'R1',
    title: 'worker killed with SIGKILL at RUN, REPORT, mid-round, during GAMMA, at the deadline',
    run: (stack, rec, quick) => workerKills(stack, rec, { pipelines: quick ? 5 : 20, seed: 1 }),
  },
  {
    id: 'R2',
    title: 'Temporal dev server killed mid-run and started again on the same database file',
    ownsTemporal: true,
    run: (stack, rec, quick) => temporalRestart(stack, rec, { pipelines: quick ? 2 : 8 }),
  },
  {
    id: 'R3',
    title: 'Redis restarted mid-run (data lost), and separately FLUSHALL',
    run: (stack, rec, quick) => redisLoss(stack, rec, { pipelines: quick ? 2 : 5 }),
  },
  {
    id: 'R4',
    title: '30 % of LLM calls fail at random (429, 500, timeouts, malformed JSON, 1.5 MB answers); the breaker',
    run: (stack, rec, quick) => llmFaults(stack, rec, { pipelines: quick ? 2 : 6, seed: 4, timeouts: !quick }),
  },
  {
    id: 'R5',
    title: 'malformed API requests, malformed workflow inputs, a /gamma flood on one pipeline',
    run: (stack, rec, quick) =>
      floods(stack, rec, quick ? { requests: 200, inputs: 20, gammaCalls: 100, seed: 5 } : { requests: 1000, inputs: 100, gammaCalls: 1000, seed: 5 }),
  },
  {
    id: 'R6',
    title: 'a recognisable key and token: where they appear; routes without the token',
    run: (stack, rec) => secrets(stack, rec),
  },
  {
    id: 'R7',
    title: 'every recorded history replays',
    run: (stack, rec) => replayHistories(stack, rec),
  },
  {
    id: 'R8',
    title: 'the ledger locked by another process mid-run, then released; then its disk full, then freed',
    run: (stack, rec, quick) => ledgerStall(stack, rec, { pipelines: quick ? 2 : 6, lockMs: quick ? 20_000 : 30_000 }),
  },
];

/** Runs one case, adding what every case must hold: no process died on its own during it. */
export async function runChaosCase(def: CaseDef, stack: ChaosStack, quick: boolean): Promise<CaseResult> {
  return runCase(
    def.id,
    def.title,
    async (rec) => {
      const before = stack.crashes.length;
      try {
        await def.run(stack, rec, quick);
      } finally {
        const crashed = stack.crashes.slice(before).map((c) => `${c.name} (${c.signal ?? `code ${c.code}`})`);
        rec.check('processes that died on their own', crashed.length ? `${crashed.length}: ${crashed.join(', ')}` : 0, crashed.length === 0);
      }
    },
    stack.log,
  );
}
