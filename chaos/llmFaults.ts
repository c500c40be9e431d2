import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId } from '../common/ids';
import type { PipelineInput } from '../common/types';
import type { FaultSpec } from '../devstack/fakeLlm';
import { breakerName, CircuitBreaker } from '../lib/breaker';
import { chaosId, ENDED, endStatuses, sleep, spawn, status } from './observe';
import type { CaseRecorder } from './report';
import { BREAKER_COOLDOWN_SECONDS, BREAKER_FAILURES, TASK_QUEUE, type ChaosStack } from './stack';

// R4: the provider misbehaves on 30 % of calls, at random (seeded): 429 with Retry-After, 500,
// timeouts, malformed JSON, 1.5 MB answers. Every pipeline must end in a defined status with its
// agents' budgets kept. Then the breaker: BREAKER_FAILURES provider failures in a row open it, no call
// reaches the provider while it is open (a call let through just before, succeeding after, does not
// close it), and it closes after its cooldown.

const HUGE = `{"summary": "${'x'.repeat(1_500_000)}"}`;

export async function llmFaults(stack: ChaosStack, rec: CaseRecorder, opts: { pipelines: number; seed: number; timeouts: boolean }): Promise<void> {
  const faults: FaultSpec[] = [
    { kind: 'status', status: 429, retryAfter: 1 },
    { kind: 'status', status: 500 },
    { kind: 'malformed' },
    { kind: 'content', content: HUGE },
    // Past the client's 45 s request timeout: only in the full run, it costs the wait.
    ...(opts.timeouts ? [{ kind: 'delay', ms: 47_000 } as FaultSpec] : []),
  ];
  stack.fake.setRandomFaults({ rate: 0.3, seed: opts.seed, faults });
  const firstCall = stack.fake.completions().length;
  let ids: string[] = [];
  try {
    ids = await Promise.all(Array.from({ length: opts.pipelines }, () => spawn(stack, { mode: 'openrouter', auto_continue: true }, 'r4')));
    const ends = await endStatuses(stack, ids, 300_000);
    const calls = stack.fake.completions().slice(firstCall);
    const faulted = calls.filter((c) => c.fault).length;
    rec.check(
      'provider calls that got a random fault',
      `${faulted}/${calls.length} (${Math.round((100 * faulted) / Math.max(1, calls.length))} %)`,
      calls.length > 0,
    );
    const undefinedEnd = ids.filter((id) => !ENDED.includes(ends.get(id) ?? '')).map((id) => `${id}: ${ends.get(id)}`);
    const byStatus = [...ends.values()].reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<string, number>());
    rec.check(
      'pipelines that ended in a defined status',
      `${ids.length - undefinedEnd.length}/${ids.length} (${[...byStatus].map(([s, n]) => `${s}×${n}`).join(' ')})`,
      undefinedEnd.length === 0,
    );
    const over: string[] = [];
    for (const id of ids) {
      for (const a of (await status(stack, id))?.agents ?? []) {
        if (a.errors > a.budget.total) over.push(`${a.id} errors ${a.errors}/${a.budget.total}`);
        if (a.status !== 'REVOKED' && a.tokens > a.budget.tokens) over.push(`${a.id} tokens ${a.tokens}/${a.budget.tokens}`);
        if (a.status === 'REVOKED' && !a.revokedReason) over.push(`${a.id} revoked without a reason`);
      }
    }
    rec.check('agents over their error or token budget', over.length ? `${over.length}: ${over.slice(0, 2).join('; ')}` : 0, over.length === 0);
  } finally {
    stack.fake.setRandomFaults(undefined);
  }
  await breakerCycle(stack, rec);
}

async function breakerCycle(stack: ChaosStack, rec: CaseRecorder): Promise<void> {
  const breaker = new CircuitBreaker(stack.redis, {
    name: breakerName(stack.fake.url),
    failures: BREAKER_FAILURES,
    cooldownMs: BREAKER_COOLDOWN_SECONDS * 1000,
  });
  stack.fake.clearFaults();
  // The provider fails until the breaker is seen open, then recovers (for the probe). Not exactly
  // BREAKER_FAILURES 500s: RUN's two agents call at once, so the call after the last 500 is on its way
  // beside it, and were it answered, its success could be recorded a moment before that failure. A
  // success resets the count (only consecutive failures open it), so the breaker would stay closed
  // by design, whichever of the two Redis scripts ran first deciding the case.
  stack.fake.addFault({ kind: 'status', status: 500, times: 1000 });
  const firstCall = stack.fake.completions().length;
  // Error budgets wide enough that the agents outlast the failures: the breaker is what is measured.
  const input: PipelineInput = {
    objective: 'Design a caching strategy',
    mode: 'openrouter',
    autoContinue: true,
    budgets: { errors: { total: 50, same: 50, violations: 5 } },
  };
  const workflowId = pipelineWorkflowId(chaosId('r4-breaker'));
  await stack.client.workflow.start(PIPELINE_WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId, args: [input] });
  let openedAt: number | undefined;
  let openedFailures = 0;
  let openUntil = 0;
  let closedAt: number | undefined;
  let lastState: unknown;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && closedAt === undefined) {
    const s = await breaker.state().catch((err: Error) => ({ error: err.message }) as const);
    lastState = s;
    if ('error' in s) {
      await sleep(100);
      continue;
    }
    if (s.state === 'open' && openedAt === undefined) {
      openedAt = Date.now();
      openedFailures = s.failures;
      openUntil = s.openedUntil ?? 0;
      stack.fake.clearFaults();
    }
    if (openedAt !== undefined && s.state === 'closed') closedAt = Date.now();
    await sleep(100);
  }
  stack.fake.clearFaults();
  const calls = stack.fake.completions().slice(firstCall);
  const failedBefore = calls.filter((c) => c.status === 500).length;
  // Calls that reached the provider while it was open (before its cooldown ended), the probe excepted.
  const during = openedAt ? calls.filter((c) => c.at > openedAt! + 200 && c.at < openUntil - 200).length : 0;
  rec.check(
    'breaker opens after BREAKER_FAILURES provider failures',
    openedAt
      ? `open after ${openedFailures} failures (threshold ${BREAKER_FAILURES}; ${failedBefore} 500s served)`
      : `never opened (${failedBefore} 500s served of ${calls.length} calls; last state ${JSON.stringify(lastState)})`,
    openedAt !== undefined && openedFailures >= BREAKER_FAILURES,
  );
  rec.check('calls reaching the provider while open', during, openedAt !== undefined && during === 0);
  // When it opened is the breaker's own record (openedUntil less the cooldown), not when this loop saw
  // it open: on a loaded machine the loop can see it late.
  const cooldownMs = BREAKER_COOLDOWN_SECONDS * 1000;
  const opened = openUntil ? openUntil - cooldownMs : openedAt;
  rec.check(
    `breaker closes after its ${BREAKER_COOLDOWN_SECONDS}s cooldown`,
    closedAt && opened ? `closed ${((closedAt - opened) / 1000).toFixed(1)}s after opening` : 'never closed',
    closedAt !== undefined && opened !== undefined && closedAt - opened >= cooldownMs - 500,
  );
  const [end] = [...(await endStatuses(stack, [workflowId.replace(/^pipeline-/, '')], 120_000)).values()];
  rec.check('the pipeline behind the breaker', end ?? 'none', end === 'COMPLETED');
}
