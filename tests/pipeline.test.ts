import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId } from '../common/ids';
import { continueUpdate, orchestrationQuery, reportQuery, spawnGammaSignal, statusQuery, stopSignal } from '../common/messages';
import { boardKeys } from '../lib/blackboard';
import { startHarness, type Harness } from './helpers/harness';

// The walking skeleton's behaviour on a real server: what a user sees in the status, the events,
// the ledger, the blackboard and the histories.

let h: Harness;
before(async () => {
  h = await startHarness('pipeline');
});
after(async () => {
  await h?.stop();
});

const phasesOf = async (pipelineId: string) => (await h.events(pipelineId)).filter((e) => e.type === 'phase_changed').map((e) => e.data.phase);

describe('pipelineWorkflow', () => {
  test('completes SPAWN → RUN → REPORT → ORCHESTRATE → COMPLETE with children under the contract ids', async () => {
    const handle = await h.start({});
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();

    assert.equal(result.status, 'COMPLETED');
    assert.ok(result.consensus, 'the result names the accepted proposal');
    assert.deepEqual(await phasesOf(pipelineId), ['RUN', 'REPORT', 'ORCHESTRATE', 'COMPLETE']);

    const events = await h.events(pipelineId);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      'seq runs 1, 2, 3, ... without gaps',
    );
    assert.equal(events[0]!.type, 'pipeline_spawned');
    assert.equal(events.at(-1)!.type, 'pipeline_finished');
    for (const type of [
      'agent_spawned',
      'orchestration_started',
      'proposal_posted',
      'vote_cast',
      'agent_message',
      'consensus_reached',
      'orchestration_complete',
    ]) {
      assert.ok(
        events.some((e) => e.type === type),
        `an ${type} event was published`,
      );
    }

    await h.waitForAgents(handle);
    for (const [phase, role] of [
      ['run', 'alpha'],
      ['run', 'beta'],
      ['orch', 'alpha'],
      ['orch', 'beta'],
    ] as const) {
      const child = await h.client.workflow.getHandle(agentWorkflowId(pipelineId, phase, role)).describe();
      assert.equal(child.type, 'agentWorkflow');
      assert.equal(child.status.name, 'COMPLETED');
      assert.equal(child.parentExecution?.workflowId, handle.workflowId);
    }

    const status = await handle.query(statusQuery);
    assert.equal(status.status, 'COMPLETED');
    assert.equal(status.phase, 'COMPLETE');
    assert.equal(status.agents.length, 4);
    assert.ok(status.agents.every((a) => a.tokens > 0 && a.status === 'COMPLETED'));

    const sa = (await handle.describe()).typedSearchAttributes.getAll();
    assert.equal(sa.find((p) => p.key.name === 'PipelineStatus')?.value, 'COMPLETED');
    assert.equal(sa.find((p) => p.key.name === 'PipelinePhase')?.value, 'COMPLETE');
    assert.equal(sa.find((p) => p.key.name === 'LlmMode')?.value, 'local');

    assert.equal(h.ledger.results(pipelineId).length, 1, 'exactly one result row');
    const checkpointPhases = h.ledger.checkpoints(pipelineId).map((c) => c.phase);
    assert.deepEqual([...new Set(checkpointPhases)], ['SPAWN', 'RUN', 'REPORT', 'ORCHESTRATE', 'COMPLETE']);
    assert.equal(h.ledger.audit(pipelineId, 1000).length, events.length, 'every event is in the audit log');

    const k = boardKeys(pipelineId);
    assert.ok((await h.redis.hlen(k.proposals)) >= 1);
    assert.ok((await h.redis.hlen(k.votes)) >= 2);
    assert.ok((await h.redis.hlen(k.messages)) >= 1);
    assert.ok((await h.redis.hlen(k.solutions)) >= 1);
    assert.equal(JSON.parse((await h.redis.get(k.consensus))!).proposalId, result.consensus!.proposalId);

    await h.recordHistory('consensus', handle);
  });

  test('autoContinue false waits at REPORT until continue, which is rejected in any other state', async () => {
    const handle = await h.start({ autoContinue: false, latencyMs: 1500 });
    await assert.rejects(
      handle.executeUpdate(continueUpdate, { args: [{}] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError && /not waiting at REPORT/.test(String((err.cause as Error)?.message)),
      'continue during RUN is rejected by the validator',
    );
    await h.waitForStatus(handle, 'REPORT');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await handle.query(statusQuery)).status, 'REPORT', 'still waiting at REPORT');
    const report = await handle.query(reportQuery);
    assert.equal(report?.kind, 'run');
    assert.equal(report?.agents.length, 2);

    const accepted = await handle.executeUpdate(continueUpdate, { args: [{ timeoutSeconds: 60 }] });
    assert.equal(accepted.status, 'ORCHESTRATING');
    assert.equal(accepted.timeoutSeconds, 60);
    await assert.rejects(handle.executeUpdate(continueUpdate, { args: [{}] }), WorkflowUpdateFailedError, 'a second continue is rejected');
    assert.equal((await handle.result()).status, 'COMPLETED');
    await h.recordHistory('manual-continue', handle);
  });

  test('spawnGamma sent twice starts exactly one GAMMA, and GAMMA votes', async () => {
    const handle = await h.start({ autoContinue: false });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'REPORT');
    await handle.signal(spawnGammaSignal, { reason: 'MANUAL', detail: 'first' });
    await handle.signal(spawnGammaSignal, { reason: 'CONFLICT', detail: 'second' });
    await handle.executeUpdate(continueUpdate, { args: [{}] });
    const result = await handle.result();

    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: true, reason: 'MANUAL' });
    const orch = await handle.query(orchestrationQuery);
    assert.deepEqual(
      orch.gamma.requests.map((r) => r.accepted),
      [true, false],
    );
    assert.ok(
      orch.votes.some((v) => v.agent === 'gamma'),
      'GAMMA cast a vote',
    );

    const history = await handle.fetchHistory();
    const gammaStarts = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId?.endsWith('-orch-gamma'));
    assert.equal(gammaStarts.length, 1);
    assert.equal((await h.events(pipelineId)).filter((e) => e.type === 'gamma_spawned').length, 1);
    await h.waitForAgents(handle);
    const gamma = await h.client.workflow.getHandle(agentWorkflowId(pipelineId, 'orch', 'gamma')).describe();
    assert.equal(gamma.status.name, 'COMPLETED');
    const sa = (await handle.describe()).typedSearchAttributes.getAll();
    assert.equal(sa.find((p) => p.key.name === 'GammaReason')?.value, 'MANUAL');
    await h.recordHistory('manual-gamma', handle);
  });

  test('stop ends STOPPED with a partial report, a checkpoint and one result row', async () => {
    const handle = await h.start({ latencyMs: 1000 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'ORCHESTRATING');
    await handle.signal(stopSignal, { reason: 'operator pressed stop' });
    const result = await handle.result();

    assert.equal(result.status, 'STOPPED');
    assert.match(result.reason ?? '', /operator pressed stop/);
    const report = await handle.query(reportQuery);
    assert.equal(report?.kind, 'partial');
    assert.equal(report?.agents.length, 2, 'the partial report keeps what RUN produced');
    const checkpoints = h.ledger.checkpoints(pipelineId);
    assert.equal(checkpoints.at(-1)?.status, 'STOPPED');
    assert.deepEqual(
      h.ledger.results(pipelineId).map((r) => r.status),
      ['STOPPED'],
    );
    const orchAlpha = await h.client.workflow.getHandle(agentWorkflowId(pipelineId, 'orch', 'alpha')).describe();
    assert.equal(orchAlpha.status.name, 'CANCELLED', 'the agents were stopped');
    await h.recordHistory('stop', handle);
  });

  test('cancelling the workflow ends STOPPED with a checkpoint', async () => {
    const handle = await h.start({ latencyMs: 1000 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'RUNNING');
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
    assert.equal((await handle.query(statusQuery)).status, 'STOPPED');
    assert.equal(h.ledger.checkpoints(pipelineId).at(-1)?.status, 'STOPPED');
    assert.deepEqual(
      h.ledger.results(pipelineId).map((r) => r.status),
      ['STOPPED'],
    );
    const events = await h.events(pipelineId);
    assert.equal(events.at(-1)?.type, 'pipeline_finished');
    assert.equal(events.at(-1)?.data.status, 'STOPPED');
    await h.recordHistory('cancel', handle);
  });

  test('a bad input fails the workflow at once with a message naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ objective: 42 }, 'objective'],
      [{ objective: 'x', maxRounds: 0 }, 'maxRounds'],
      [{ objective: 'x', thresholds: { complexity: 3 } }, 'thresholds.complexity'],
      [{ objective: 'x', scenario: 'chaos' }, 'scenario'],
      [{ objective: 'x', colour: 'blue' }, 'colour'],
    ];
    for (const [input, field] of cases) {
      const handle = await h.start(input as never);
      const err = await handle.result().then(
        () => assert.fail(`input ${JSON.stringify(input)} was accepted`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      const message = (err.cause as Error).message;
      assert.ok(message.includes(`"${field}"`), `"${message}" names ${field}`);
      const history = await handle.fetchHistory();
      assert.ok(history.events!.length <= 5, 'failed in its first workflow task, not retried');
    }
  });

  test('flaky LLM calls are retried by Temporal and counted against the agent', async () => {
    const handle = await h.start({ scenario: 'flaky' });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    const status = await handle.query(statusQuery);
    const alpha = status.agents.find((a) => a.role === 'alpha' && a.phase === 'orch')!;
    assert.ok(alpha.errors >= 1, `ALPHA's failed attempts are counted (${alpha.errors})`);
    await h.recordHistory('flaky', handle);
  });
});
