import { seededRandom } from '../devstack/fakeLlm';
import { pipelineWorkflowId } from '../common/ids';
import { orchestrationQuery } from '../common/messages';
import { checkEvents, endStatuses, http, sleep, spawn, status, until } from './observe';
import type { CaseRecorder } from './report';
import type { ChaosStack } from './stack';

// R1: pipelines of every kind while the worker is killed with SIGKILL at the points where a crash
// hurts most (RUN, REPORT, mid-round, during GAMMA, at the deadline) and started again after a
// random pause. Each pipeline must end as it would have without the crashes, write no ledger row
// twice, and leave its events 1..N in Redis and in the ledger.

type Kind = 'auto' | 'report' | 'round' | 'gamma' | 'deadline';
const KINDS: Kind[] = ['auto', 'report', 'round', 'gamma', 'deadline'];

const SPAWN: Record<Kind, Record<string, unknown>> = {
  auto: { mode: 'local', auto_continue: true, scenario: 'consensus', latency_ms: 400 },
  report: { mode: 'local', auto_continue: false, scenario: 'consensus', latency_ms: 300 },
  round: { mode: 'local', auto_continue: false, scenario: 'consensus', latency_ms: 600 },
  gamma: { mode: 'local', auto_continue: false, scenario: 'complex', latency_ms: 500 },
  deadline: { mode: 'local', auto_continue: false, scenario: 'consensus', latency_ms: 1500 },
};
const EXPECTED: Record<Kind, string> = { auto: 'COMPLETED', report: 'COMPLETED', round: 'COMPLETED', gamma: 'COMPLETED', deadline: 'TIMEOUT' };
const DEADLINE_SECONDS = 3;

export interface WorkerKillOptions {
  pipelines: number;
  seed: number;
}

export async function workerKills(stack: ChaosStack, rec: CaseRecorder, opts: WorkerKillOptions): Promise<void> {
  const random = seededRandom(opts.seed);
  const kinds = Array.from({ length: opts.pipelines }, (_, i) => KINDS[i % KINDS.length]!);
  const ids = await Promise.all(kinds.map((k) => spawn(stack, SPAWN[k], `r1-${k}`)));
  const of = (k: Kind) => ids.filter((_, i) => kinds[i] === k);
  const kills: string[] = [];

  const killAndRestart = async (point: string, reached: boolean, downMs?: number) => {
    await stack.killWorkers();
    const pause = downMs ?? 300 + Math.floor(random() * 1500);
    kills.push(`${point}${reached ? '' : '(not reached)'}`);
    stack.log(`R1: worker killed at ${point}${reached ? '' : ' (point not reached in time)'}; down ${pause} ms`);
    await sleep(pause);
    await stack.startWorker();
  };
  const anyAt = (list: string[], wanted: string) => async () => (await Promise.all(list.map((id) => status(stack, id)))).some((s) => s?.status === wanted);
  const continuePipelines = async (list: string[], timeout?: number) => {
    for (const id of list) {
      const ok = await until(
        async () =>
          (await http(stack, 'POST', '/api/pipeline/continue', { body: { pipeline_id: id, mode: 'local', ...(timeout ? { timeout } : {}) } })).status === 202,
        60_000,
        500,
      );
      if (!ok) stack.log(`R1: continue ${id} was not accepted within 60 s`);
    }
  };

  // RUN: the first agents are at work.
  await killAndRestart('RUN', await until(anyAt(ids, 'RUNNING'), 30_000, 100));
  // REPORT: every pipeline but the auto ones waits there for `continue`.
  const waiting = ids.filter((_, i) => kinds[i] !== 'auto');
  await killAndRestart(
    'REPORT',
    await until(async () => waiting.length > 0 && (await Promise.all(waiting.map((id) => status(stack, id)))).every((s) => s?.status === 'REPORT'), 60_000),
  );
  await continuePipelines(of('report'));
  // Mid-round: a proposal is posted and under review.
  await continuePipelines(of('round'));
  const midRound = async () =>
    (
      await Promise.all(
        of('round').map((id) =>
          stack.client.workflow
            .getHandle(pipelineWorkflowId(id))
            .query(orchestrationQuery)
            .catch(() => undefined),
        ),
      )
    ).some((o) => o && o.proposals.length >= 1 && !o.consensus);
  await killAndRestart('mid-round', of('round').length > 0 && (await until(midRound, 60_000, 150)));
  // During GAMMA: GAMMA was called in (COMPLEXITY) and the orchestration goes on.
  await continuePipelines(of('gamma'));
  const gammaOn = async () => (await Promise.all(of('gamma').map((id) => status(stack, id)))).some((s) => s?.gamma.spawned && s.status === 'ORCHESTRATING');
  await killAndRestart('GAMMA', of('gamma').length > 0 && (await until(gammaOn, 60_000, 150)));
  // At the deadline: no worker is up when the orchestration's deadline passes. The worker restarted
  // after the GAMMA kill bundles its workflows first, which on a loaded machine takes tens of seconds.
  await continuePipelines(of('deadline'), DEADLINE_SECONDS);
  const deadlineReached = of('deadline').length > 0 && (await until(anyAt(of('deadline'), 'ORCHESTRATING'), 90_000, 100));
  await killAndRestart('deadline', deadlineReached, (DEADLINE_SECONDS + 2) * 1000);

  const ends = await endStatuses(stack, ids, 180_000);
  const wrong = ids.filter((id, i) => ends.get(id) !== EXPECTED[kinds[i]!]).map((id) => `${id}: ${ends.get(id)}`);
  rec.check(
    `kill -9 points (${kills.length})`,
    kills.join(', '),
    kills.every((k) => !k.includes('not reached')),
  );
  rec.check(
    `pipelines at their expected status`,
    `${ids.length - wrong.length}/${ids.length}${wrong.length ? ` (${wrong.slice(0, 3).join('; ')})` : ''}`,
    wrong.length === 0,
  );

  let dups = 0;
  const gaps: string[] = [];
  for (const id of ids) {
    const c = await checkEvents(stack, id);
    dups += c.duplicateRows + Math.max(0, c.resultRows - 1);
    if (!c.redisGapless) gaps.push(`${id} redis ${summary(c.redisSeqs)}`);
    if (!c.ledgerGapless) gaps.push(`${id} ledger ${summary(c.ledgerSeqs)}`);
    if (c.resultRows !== 1) gaps.push(`${id} ${c.resultRows} result rows`);
  }
  rec.check('duplicate ledger rows', dups, dups === 0);
  rec.check(
    'pipelines whose events are 1..N (Redis and ledger)',
    `${ids.length - new Set(gaps.map((g) => g.split(' ')[0])).size}/${ids.length}${gaps.length ? ` (${gaps.slice(0, 2).join('; ')})` : ''}`,
    gaps.length === 0,
  );
}

/** 1..9 or the seqs themselves when they are not a run. */
export function summary(seqs: number[]): string {
  if (seqs.length === 0) return 'none';
  const contiguous = seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1);
  return contiguous ? `${seqs[0]}..${seqs.at(-1)}` : `${seqs.slice(0, 12).join(',')}${seqs.length > 12 ? ',…' : ''}`;
}
