import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId } from '../common/ids';
import { continueUpdate, statusQuery, stopSignal } from '../common/messages';
import type { AgentPhase, Role } from '../common/types';
import { openrouterEnv, resetBreaker, withFakeProvider } from './helpers/fakeProvider';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';
import { startHarness, type Harness } from './helpers/harness';

// LLM_CALLS=worker (lib/config.ts): every LLM call a local activity in the agent's own worker, on the
// real dev server and the real `openai` client against the fake provider. What must not change with
// it: the calls' governance (Retry-After, the error budget), their transcripts and usage in the
// ledger, a stop reaching a call in flight. What must: no call goes through a task queue.

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const KEY = 'CALLS-fake-credential-3c9e1a7f5b2d';

const providerEnv = (fake: FakeLlm, calls: 'queue' | 'worker'): Record<string, string> => openrouterEnv(KEY, fake, { LLM_CALLS: calls });

const withWorkerCalls = (name: string, fn: (fake: FakeLlm, h: Harness) => Promise<void>): Promise<void> =>
  withFakeProvider(KEY, name, { LLM_CALLS: 'worker' }, fn);

const agentEvents = async (h: Harness, handle: WorkflowHandle, phase: AgentPhase, role: Role): Promise<HistoryEvent[]> =>
  (await h.client.workflow.getHandle(agentWorkflowId(pipelineIdFromWorkflowId(handle.workflowId), phase, role)).fetchHistory()).events ?? [];

/** The local activities a history recorded, by type (the SDK's marker holds the type in its data). */
function localActivities(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName !== 'core_local_activity') return [];
    const data = m.details?.data?.payloads?.[0]?.data;
    return data ? [String((JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type)] : [];
  });
}

const scheduledActivities = (events: HistoryEvent[]): string[] =>
  events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name ?? ''] : []));

describe('LLM calls in the agent worker (LLM_CALLS=worker)', () => {
  test('every call is a local activity of its agent, none goes through a task queue, and the pipeline completes with its calls and transcripts in the ledger', async () => {
    await withWorkerCalls('llm-calls-worker', async (fake, h) => {
      const handle = await h.start({ mode: 'openrouter' });
      const result = await handle.result();
      assert.equal(result.status, 'COMPLETED');
      assert.ok(result.consensus, 'the agents reached consensus');

      const agents: [AgentPhase, Role][] = [
        ['run', 'alpha'],
        ['run', 'beta'],
        ['orch', 'alpha'],
        ['orch', 'beta'],
      ];
      let local = 0;
      for (const [phase, role] of agents) {
        const events = await agentEvents(h, handle, phase, role);
        assert.deepEqual(scheduledActivities(events), [], `${phase}-${role} scheduled no activity: its calls ran in its worker`);
        const calls = localActivities(events).filter((t) => t === 'callAgent');
        assert.ok(calls.length >= 1, `${phase}-${role} recorded its calls as local activities (${calls.length})`);
        local += calls.length;
      }
      const completions = fake.completions().filter((r) => r.status === 200);
      assert.equal(local, completions.length, 'one local activity per call the provider answered');

      const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
      await h.waitForQuiet(handle);
      assert.equal(h.ledger.calls(pipelineId).length, completions.length, "each call's usage is in the ledger");
      assert.equal(h.ledger.transcript(pipelineId, 0, 100, 4 * 1024 * 1024).total, completions.length, "each call's transcript is in the ledger");
      await h.recordHistory('llm-calls-worker', handle);
    });
  });

  test("a 429 with Retry-After: the agent's timer waits it out, the error budget counts it, and the pipeline completes", async () => {
    await withWorkerCalls('llm-calls-worker-429', async (fake, h) => {
      fake.addFault({ kind: 'status', status: 429, retryAfter: 2, match: 'Task: research' });
      const handle = await h.start({ mode: 'openrouter' });
      const result = await handle.result();
      assert.equal(result.status, 'COMPLETED');
      const research = fake.completions().filter((r) => JSON.stringify(r.body).includes('Task: research'));
      assert.deepEqual(
        research.map((r) => r.status),
        [429, 200],
      );
      const gap = research[1]!.at - research[0]!.at;
      assert.ok(gap >= 1950, `the retry waited for Retry-After (2 s): it came ${gap} ms after the 429`);
      const events = await agentEvents(h, handle, 'run', 'alpha');
      const timers = events.flatMap((e) =>
        e.timerStartedEventAttributes ? [Number(String(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0))] : [],
      );
      assert.deepEqual(timers, [2], "ALPHA's backoff timer is the provider's Retry-After");
      assert.equal(localActivities(events).filter((t) => t === 'callAgent').length, 2, 'the failed try and the answered one, each a local activity');
      assert.equal(scheduledActivities(events).length, 0);
      const alpha = (await handle.query(statusQuery)).agents.find((a) => a.phase === 'run' && a.role === 'alpha');
      assert.equal(alpha?.status, 'COMPLETED', 'one rate-limited try does not revoke');
      assert.equal(alpha?.errors, 1, "the 429 counts in ALPHA's error budget");
      await h.recordHistory('llm-calls-worker-retry-after', handle);
    });
  });

  test("a pipeline started with LLM_CALLS=worker keeps it after its workers are replaced by ones with the default: its orchestration calls still run in the agents' worker, and it completes", async () => {
    const fake = await startFakeLlm({ apiKey: KEY });
    let before: Harness | undefined;
    let after: Harness | undefined;
    try {
      before = await startHarness('llm-calls-rollback', { env: providerEnv(fake, 'worker') });
      await resetBreaker(before, fake);
      const started = await before.start({ mode: 'openrouter', autoContinue: false });
      await before.waitForStatus(started, 'REPORT');
      const taskQueue = before.taskQueue;
      await before.stop();
      before = undefined;
      // The rollback: the same task queue, workers with LLM_CALLS unset (queue).
      after = await startHarness('llm-calls-rollback', { taskQueue, env: providerEnv(fake, 'queue') });
      const handle = after.client.workflow.getHandle(started.workflowId);
      await handle.executeUpdate(continueUpdate, { args: [{}] });
      const result = (await handle.result()) as { status: string };
      assert.equal(result.status, 'COMPLETED', 'the queue-mode workers ran the calls of a pipeline recorded with LLM_CALLS=worker');
      for (const role of ['alpha', 'beta'] as const) {
        const events = await agentEvents(after, handle, 'orch', role);
        assert.deepEqual(scheduledActivities(events), [], `orch-${role} scheduled no activity after the rollback`);
        assert.ok(localActivities(events).includes('callAgent'), `orch-${role}'s calls ran as local activities`);
      }
    } finally {
      await before?.stop();
      await after?.stop();
      await fake.close();
    }
  });

  test('a stop while a call hangs at the provider cancels the call in the worker: the pipeline ends STOPPED long before the call would have answered', async () => {
    await withWorkerCalls('llm-calls-worker-stop', async (fake, h) => {
      fake.addFault({ kind: 'delay', ms: 90_000, match: 'Task: research' });
      const handle = await h.start({ mode: 'openrouter' });
      const deadline = Date.now() + 30_000;
      while (!fake.completions().some((r) => JSON.stringify(r.body).includes('Task: research'))) {
        assert.ok(Date.now() < deadline, 'the research call reached the provider');
        await new Promise((r) => setTimeout(r, 100));
      }
      const stoppedAt = Date.now();
      await handle.signal(stopSignal, { reason: 'the test stops a hung call' });
      const result = await handle.result();
      const took = Date.now() - stoppedAt;
      assert.equal(result.status, 'STOPPED');
      // The stop reaches the agent when the SDK renews its open workflow task (every 8 s of a call).
      assert.ok(took < 30_000, `the stop ended the pipeline in ${took} ms, not after the hung call's 90 s`);
      const research = fake.completions().find((r) => JSON.stringify(r.body).includes('Task: research'))!;
      const until = Date.now() + 10_000;
      while (!research.aborted && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      assert.ok(research.aborted, 'the hung request was aborted, not left to run out');
      await h.waitForAgents(handle);
    });
  });
});
