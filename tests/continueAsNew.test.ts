import { WorkflowFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId, pipelineWorkflowId } from '../common/ids';
import { continueUpdate, orchestrationQuery, recoverUpdate, statusQuery } from '../common/messages';
import { HISTORY_LIMITS } from '../common/limits';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// A `recover` rerun continues as new (issue #15, item 3): the rerun runs in a fresh history under the
// same workflow id, carrying the pipeline's state, so no number of reruns can take one history to the
// server's limits. What a user sees is the same as before: one pipeline, its events gapless with one
// seq each, the orchestration's record across both orchestrations, one result row.

let h: Harness;
before(async () => {
  h = await startHarness('can');
});
after(async () => {
  await h?.stop();
});

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('continue-as-new', () => {
  test('a recover rerun runs in a new run of the same workflow, with the state, events and ledger carried over', async () => {
    const handle = await h.start({ scenario: 'no_consensus', maxRounds: 2 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'ORCHESTRATION_FAILED');
    const first = await handle.describe();
    await handle.executeUpdate(recoverUpdate, { args: [{ action: 'rerun' }] });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.ok(result.consensus, 'the rerun reached consensus');

    const latest = h.client.workflow.getHandle(handle.workflowId);
    const now = await latest.describe();
    assert.notEqual(now.runId, first.runId, 'the rerun ran in a new run');
    const firstHistory = (await h.client.workflow.getHandle(handle.workflowId, first.runId).fetchHistory()).events ?? [];
    assert.ok(firstHistory.at(-1)?.workflowExecutionContinuedAsNewEventAttributes, 'the first run ended by continuing as new');
    const newHistory = (await latest.fetchHistory()).events ?? [];
    assert.ok(newHistory.length < firstHistory.length + 200, 'the new run starts a fresh history');
    await h.recordHistory('recover-continue-as-new', handle, first.runId);
    await h.recordHistory('recover-continued', latest);

    // What a user sees: one pipeline through both orchestrations.
    const orch = await latest.query(orchestrationQuery);
    assert.equal(orch.attempt, 2);
    assert.equal(orch.proposals[0]?.id, 'P1', "the first orchestration's proposals are kept");
    assert.equal(orch.proposals[2]?.round, 3, 'the rerun continued from round 3');
    assert.deepEqual(result.gamma, { spawned: true, reason: 'CONFLICT' }, 'the kept proposals still count for CONFLICT');
    const status = await latest.query(statusQuery);
    assert.equal(status.startedAt, first.startTime.toISOString(), "the pipeline's start is the first run's");
    assert.ok(
      status.agents.some((a) => a.phase === 'run'),
      "RUN's agents are still listed",
    );
    assert.ok(result.tokens > 0);

    const events = await h.events(pipelineId);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      'every seq once, gapless, across both runs',
    );
    assert.equal(events.filter((e) => e.type === 'pipeline_spawned').length, 1);
    assert.deepEqual(
      events.filter((e) => e.type === 'orchestration_started').map((e) => e.data.attempt),
      [1, 2],
    );
    assert.equal(events.filter((e) => e.type === 'pipeline_finished').length, 1);
    await eventually(() => h.ledger.results(pipelineId).length === 1, 'the result row is written');
    const checkpoints = h.ledger.checkpoints(pipelineId);
    assert.deepEqual(
      checkpoints.map((c) => Number(c.key.split('-')[0])),
      checkpoints.map((_, i) => i + 1),
      'checkpoints keep their count across the runs',
    );
    assert.equal(checkpoints.at(-1)?.status, 'COMPLETED');
    await eventually(() => h.ledger.audit(pipelineId, 1000).length === events.length, 'the audit events are written');
    assert.deepEqual(
      h.ledger.audit(pipelineId, 1000).map((r) => r.seq),
      events.map((e) => e.seq),
      'the audit trail has every event once',
    );
  });

  test('a carried state is accepted only from continue-as-new: a second argument on a fresh start is refused', async () => {
    const id = uniqueId('can-forged');
    const forged = await h.client.workflow.start('pipelineWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: pipelineWorkflowId(id),
      args: [{ objective: 'x' }, { resume: { attempt: 2, gammaAtOnce: false } }],
    });
    const err = await forged.result().then(
      () => assert.fail('should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    assert.equal((err.cause as { type?: string }).type, 'InvalidInput');
  });
});

/**
 * Sends ignored spawnGamma signals (an unknown reason) until the history passes the point where the
 * pipeline continues as new, then waits for the new run (the server holds a run's end back while
 * signals keep coming, so the flood pauses). How many signals it took.
 */
async function floodUntilNewRun(workflowId: string, firstRunId: string): Promise<number> {
  const raw = h.client.workflow.getHandle(workflowId);
  let sent = 0;
  for (;;) {
    // The latest run: once the pipeline has continued as new, that is the new run (short history).
    const d = await raw.describe();
    if (d.runId !== firstRunId || d.historyLength >= HISTORY_LIMITS.continueAsNewAt) break;
    await Promise.all(Array.from({ length: 100 }, () => raw.signal('spawnGamma', { reason: 'NOPE' })));
    sent += 100;
    assert.ok(sent <= 2 * HISTORY_LIMITS.continueAsNewAt, 'the history grows with the signals');
  }
  // After a workflow task times out under a flood, its retry replays the whole run (thousands of
  // signals): on a loaded machine that alone can take tens of seconds.
  const deadline = Date.now() + 90_000;
  while ((await raw.describe()).runId === firstRunId) {
    if (Date.now() > deadline) {
      const events = (await raw.fetchHistory()).events ?? [];
      assert.fail(`still the first run after ${sent} signals (${events.length} events; last: ${JSON.stringify(events.slice(-3).map((e) => e.eventType))})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return sent;
}

describe('continue-as-new while waiting', () => {
  test('signals flooding a pipeline at REPORT: the wait goes on in a new run, and continue then works', async () => {
    const handle = await h.start({ autoContinue: false });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'REPORT');
    const first = await handle.describe();
    await floodUntilNewRun(handle.workflowId, first.runId);
    const firstHistory = (await h.client.workflow.getHandle(handle.workflowId, first.runId).fetchHistory()).events ?? [];
    assert.ok(firstHistory.length < HISTORY_LIMITS.continueAsNewAt + 1000, `the first run stopped growing at ${firstHistory.length} events`);
    const latest = h.client.workflow.getHandle(handle.workflowId);
    await h.waitForStatus(latest, 'REPORT');
    const orch = await latest.query(orchestrationQuery);
    assert.ok(orch.gamma.requests.length <= 20 && orch.gamma.requests.every((r) => !r.accepted));
    await latest.executeUpdate(continueUpdate, { args: [{}] });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    const events = await h.events(pipelineId);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.equal(events.filter((e) => e.type === 'pipeline_spawned').length, 1);
  });

  test('signals flooding a pipeline in its recovery window: the wait goes on in a new run, and recover then works', async () => {
    const handle = await h.start({ scenario: 'no_consensus', maxRounds: 1 });
    await h.waitForStatus(handle, 'ORCHESTRATION_FAILED');
    const first = await handle.describe();
    await floodUntilNewRun(handle.workflowId, first.runId);
    const latest = h.client.workflow.getHandle(handle.workflowId);
    await h.waitForStatus(latest, 'ORCHESTRATION_FAILED');
    await latest.executeUpdate(recoverUpdate, { args: [{ action: 'accept_partial' }] });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.equal(result.partial?.proposalId, 'P1');
  });
});
