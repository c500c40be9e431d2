import { runCase, type CaseRecorder, type CaseResult } from './report';
import type { ChaosStack } from './stack';
import { ledgerStall } from './ledgerStall';
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
    id: 'R8',
    title: 'the ledger locked by another process mid-run, then released',
    run: (stack, rec, quick) => ledgerStall(stack, rec, { pipelines: quick ? 2 : 6, lockMs: quick ? 6000 : 15_000 }),
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
