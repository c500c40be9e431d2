import { WorkflowFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId, pipelineWorkflowId } from '../common/ids';
import { orchestrationQuery, recoverUpdate, statusQuery } from '../common/messages';
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
