import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId } from '../common/ids';
import { orchestrationQuery, recoverUpdate, reportQuery, statusQuery } from '../common/messages';
import type { PipelineEvent } from '../common/types';
import { boardKeys } from '../lib/blackboard';
import { startHarness, type Harness } from './helpers/harness';

// Every governance path on a real server, driven by the simulator's scenarios: what a user sees in
// the result, the status and orchestration queries, the events, the ledger, the blackboard and the
// Web UI's search attributes. Each path leaves a history the replay test replays.

let h: Harness;
before(async () => {
  h = await startHarness('governance');
});
after(async () => {
  await h?.stop();
});

/** Mirroring runs beside the pipeline: the ledger catches up a moment after the status changes. */
async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const of = (events: PipelineEvent[], type: string) => events.filter((e) => e.type === type);
const searchAttribute = async (workflowId: string, name: string) =>
  (await h.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.getAll().find((p) => p.key.name === name)?.value;
const spawnGammaSignals = async (workflowId: string) =>
  ((await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).filter(
    (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'spawnGamma',
  );
const childStatus = async (pipelineId: string, role: 'alpha' | 'beta' | 'gamma') =>
  (await h.client.workflow.getHandle(agentWorkflowId(pipelineId, 'orch', role)).describe()).status.name;

describe('GAMMA triggers', () => {
  test('CONFLICT: three unresolved proposals bring GAMMA in, whose casting vote settles it', async () => {
    const handle = await h.start({ scenario: 'conflict' });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();

    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: true, reason: 'CONFLICT' });
    const orch = await handle.query(orchestrationQuery);
    assert.equal(orch.proposals.length, 3, 'GAMMA came in when the third proposal was still unresolved');
    const casting = orch.votes.find((v) => v.agent === 'gamma');
    assert.ok(casting?.approve && /arbitration/.test(casting.reason ?? ''), 'GAMMA cast a vote with a rationale');
    assert.equal(result.consensus?.proposalId, casting.proposalId, 'the casting vote decided');
    assert.deepEqual(
      result.consensus?.votes
        .filter((v) => v.approve)
        .map((v) => v.agent)
        .sort(),
      ['alpha', 'gamma'],
    );
    assert.ok(
      orch.votes.filter((v) => v.agent === 'beta').every((v) => !v.approve),
      'BETA never agreed on its own',
    );

    const events = await h.events(pipelineId);
    assert.equal(of(events, 'gamma_spawned')[0]?.data.reason, 'CONFLICT');
    assert.match(String(of(events, 'gamma_spawned')[0]?.data.detail), /3 unresolved proposals/);
    assert.equal((await spawnGammaSignals(handle.workflowId)).length, 1, 'the trigger went through the spawnGamma signal');
    assert.equal(await searchAttribute(handle.workflowId, 'GammaReason'), 'CONFLICT');
    assert.ok(
      h.ledger.audit(pipelineId, 1000).some((r) => r.type === 'gamma_spawned' && (r.data as { reason: string }).reason === 'CONFLICT'),
      'the reason is in the ledger',
    );
    await h.recordHistory('conflict', handle);
  });

  test('CONFLICT does not fire just below its threshold; no consensus then waits for recover', async () => {
    const handle = await h.start({ scenario: 'conflict', maxRounds: 3, thresholds: { conflictCount: 4 } });
    await h.waitForStatus(handle, 'ORCHESTRATION_FAILED');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.gamma, { spawned: false, reason: null }, 'three unresolved proposals are below a threshold of four');
    assert.equal((await handle.query(orchestrationQuery)).proposals.length, 3);
    assert.equal(await searchAttribute(handle.workflowId, 'PipelineStatus'), 'ORCHESTRATION_FAILED');

    // rerun_with_gamma: a second orchestration that keeps the blackboard and calls GAMMA in at once.
    const accepted = await handle.executeUpdate(recoverUpdate, { args: [{ action: 'rerun_with_gamma' }] });
    assert.deepEqual(accepted, { status: 'ORCHESTRATING', action: 'rerun_with_gamma' });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: true, reason: 'MANUAL' });
    const orch = await handle.query(orchestrationQuery);
    assert.equal(orch.attempt, 2);
    assert.ok(orch.proposals.length > 3, "the rerun kept the first orchestration's proposals and added to them");
    assert.equal((await spawnGammaSignals(handle.workflowId)).length, 1);
    await h.recordHistory('conflict-below-threshold-recover', handle);
  });

  test('STUCK: BETA silent for longer than stuckSeconds brings GAMMA in to unblock', async () => {
    const handle = await h.start({ scenario: 'stuck', thresholds: { stuckSeconds: 2 } });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();

    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: true, reason: 'STUCK' });
    assert.equal(result.consensus?.proposalId, 'P1', 'GAMMA unblocked the first proposal');
    const orch = await handle.query(orchestrationQuery);
    assert.ok(
      orch.messages.some((m) => m.from === 'gamma' && /synthesis/.test(m.content)),
      'GAMMA posted a synthesis',
    );
    assert.ok(!orch.votes.some((v) => v.agent === 'beta'), 'BETA never answered');
    assert.equal(await childStatus(pipelineId, 'beta'), 'CANCELLED', 'the stalled BETA was stopped when consensus came');
    const events = await h.events(pipelineId);
    assert.match(String(of(events, 'gamma_spawned')[0]?.data.detail), /no new proposal, vote or message for \d+s/);
    assert.equal(await searchAttribute(handle.workflowId, 'GammaReason'), 'STUCK');
    await h.recordHistory('stuck', handle);
  });

  test('STUCK does not fire while progress comes just inside stuckSeconds', async () => {
    const handle = await h.start({ scenario: 'consensus', latencyMs: 1200, thresholds: { stuckSeconds: 2 } });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: false, reason: null });
    assert.equal((await spawnGammaSignals(handle.workflowId)).length, 0);
  });

  test('COMPLEXITY: a proposal above the threshold is decomposed, then worked through', async () => {
    const handle = await h.start({ scenario: 'complex' });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();

    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: true, reason: 'COMPLEXITY' });
    const orch = await handle.query(orchestrationQuery);
    assert.equal(orch.proposals[0]!.complexity, 0.9);
    assert.equal(orch.subproblems.length, 3, 'GAMMA decomposed the problem');
    const adopted = orch.proposals.find((p) => p.id === result.consensus?.proposalId)!;
    assert.deepEqual(adopted.subproblems, orch.subproblems, 'the adopted proposal works through the sub-problems');
    assert.ok(adopted.complexity <= 0.8);
    // With GAMMA active a majority that includes GAMMA's vote decides (governance/consensus.ts): BETA's
    // vote is in only when it arrived before GAMMA's, which depends on the machine's load.
    const approvals = result.consensus?.votes.filter((v) => v.approve).map((v) => v.agent) ?? [];
    assert.ok(approvals.includes('alpha') && approvals.includes('gamma'), `approved by ${approvals.join(', ')}`);
    assert.ok(!result.consensus?.votes.some((v) => !v.approve), 'no vote against the adopted proposal');
    const board = JSON.parse((await h.redis.get(boardKeys(pipelineId).subproblems))!);
    assert.equal(board.items.length, 3, 'the decomposition is on the blackboard');
    await h.recordHistory('complex', handle);
  });

  test('COMPLEXITY does not fire at exactly the threshold', async () => {
    const handle = await h.start({ scenario: 'complex', thresholds: { complexity: 0.9 } });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.gamma, { spawned: false, reason: null });
    assert.equal((await handle.query(orchestrationQuery)).subproblems.length, 0);
  });
});

describe('error budgets', () => {
  test('revoked: BETA spends its repeat budget, hands off, and ALPHA continues alone', async () => {
    const handle = await h.start({ scenario: 'revoked' });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();

    assert.equal(result.status, 'COMPLETED');
    assert.deepEqual(result.revoked, ['beta']);
    const status = await handle.query(statusQuery);
    const beta = status.agents.find((a) => a.role === 'beta' && a.phase === 'orch')!;
    assert.equal(beta.status, 'REVOKED');
    assert.equal(beta.errors, 2, 'the same error class twice in a row spends the repeat budget of 2');
    assert.match(beta.revokedReason ?? '', /LlmServer 2 times in a row/);
    const alpha = status.agents.find((a) => a.role === 'alpha' && a.phase === 'orch')!;
    assert.equal(alpha.status, 'COMPLETED');
    assert.equal(alpha.errors, 1, "ALPHA's one rate-limited attempt was counted, then retried after Retry-After");

    const report = await handle.query(reportQuery);
    assert.ok(
      report?.notes.some((n) => /BETA was revoked .*ALPHA continued alone/.test(n)),
      'the report says who carried on',
    );
    const events = await h.events(pipelineId);
    const revoked = of(events, 'agent_revoked');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0]!.data.role, 'BETA');
    const handoffs = h.ledger.handoffs(pipelineId);
    assert.equal(handoffs.length, 1);
    assert.match(handoffs[0]!.left, /evaluate for round 1 on P1/);
    assert.equal(await h.redis.hlen(boardKeys(pipelineId).handoffs), 1, 'the handoff is on the blackboard');
    assert.ok(of(events, 'consensus_reached').length === 1);
    await h.recordHistory('revoked', handle);
  });

  test('both agents revoked: the pipeline ends FAILED with a failure checkpoint and one result row', async () => {
    const handle = await h.start({ scenario: 'revoked', budgets: { errors: { total: 1 } } });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await assert.rejects(
      handle.result(),
      (err: unknown) => err instanceof WorkflowFailedError && /every agent was revoked/.test(String((err.cause as Error)?.message)),
    );
    const status = await handle.query(statusQuery);
    assert.equal(status.status, 'FAILED');
    assert.deepEqual(
      status.agents.filter((a) => a.phase === 'orch').map((a) => [a.role, a.status]),
      [
        ['alpha', 'REVOKED'],
        ['beta', 'REVOKED'],
      ],
    );
    assert.equal(h.ledger.checkpoints(pipelineId).at(-1)?.status, 'FAILED');
    assert.deepEqual(
      h.ledger.results(pipelineId).map((r) => r.status),
      ['FAILED'],
    );
    assert.equal(h.ledger.handoffs(pipelineId).length, 2);
    const events = await h.events(pipelineId);
    assert.deepEqual(
      events.slice(-3).map((e) => e.type),
      ['orchestration_complete', 'phase_changed', 'pipeline_finished'],
    );
    await h.recordHistory('both-revoked', handle);
  });
});

describe('endings', () => {
  test('no consensus waits in ORCHESTRATION_FAILED; recover is rejected elsewhere; rerun reaches consensus', async () => {
    const handle = await h.start({ scenario: 'no_consensus', maxRounds: 2, latencyMs: 300 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await assert.rejects(
      handle.executeUpdate(recoverUpdate, { args: [{ action: 'rerun' }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError && /not waiting in ORCHESTRATION_FAILED/.test(String((err.cause as Error)?.message)),
    );
    await h.waitForStatus(handle, 'ORCHESTRATION_FAILED');
    assert.equal(h.ledger.results(pipelineId).length, 0, 'waiting is not an ending: no result row yet');
    await eventually(() => h.ledger.checkpoints(pipelineId).at(-1)?.status === 'ORCHESTRATION_FAILED', 'the ORCHESTRATION_FAILED checkpoint is written');
    await handle.executeUpdate(recoverUpdate, { args: [{ action: 'rerun' }] });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    const orch = await handle.query(orchestrationQuery);
    assert.equal(orch.attempt, 2);
    assert.equal(orch.proposals[2]?.round, 3, 'the rerun continued from round 3');
    // The kept blackboard counts: with P1 and P2 still open, P3 makes three unresolved proposals.
    assert.deepEqual(result.gamma, { spawned: true, reason: 'CONFLICT' });
    assert.ok(result.consensus, 'the rerun reached consensus');
    assert.equal(h.ledger.results(pipelineId).length, 1);
    const events = await h.events(pipelineId);
    assert.equal(of(events, 'orchestration_started').length, 2);
    assert.equal(of(events, 'orchestration_complete').length, 1);
    await h.recordHistory('no-consensus-rerun', handle);
  });

  test('accept_partial completes with the best proposal marked partial', async () => {
    const handle = await h.start({ scenario: 'no_consensus', maxRounds: 2 });
    await h.waitForStatus(handle, 'ORCHESTRATION_FAILED');
    await handle.executeUpdate(recoverUpdate, { args: [{ action: 'accept_partial' }] });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.equal(result.consensus, null);
    assert.equal(result.partial?.proposalId, 'P2');
    const report = await handle.query(reportQuery);
    assert.equal(report?.kind, 'partial');
    assert.match(report?.summary ?? '', /P2 .* accepted as a partial result/);
    await h.recordHistory('accept-partial', handle);
  });

  test('the deadline ends TIMEOUT: agents stopped, partial report written without the LLM', async () => {
    // Consensus takes two rounds (four 1.5 s calls); the first proposal is in well before the deadline, even on a busy machine.
    const handle = await h.start({ latencyMs: 1500, timeoutSeconds: 4 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();
    assert.equal(result.status, 'TIMEOUT');
    const report = await handle.query(reportQuery);
    assert.equal(report?.kind, 'partial');
    assert.ok(report?.notes.some((n) => /without the LLM/.test(n)));
    assert.ok(
      report?.notes.some((n) => /best proposal so far: P\d/.test(n)),
      'what the agents produced was collected',
    );
    // The agent mid-call at the deadline is cancelled (which one depends on the timing); the other was finished.
    const children = [await childStatus(pipelineId, 'alpha'), await childStatus(pipelineId, 'beta')];
    assert.ok(children.includes('CANCELLED'), `an agent mid-call was cancelled (${children.join(', ')})`);
    assert.equal(h.ledger.checkpoints(pipelineId).at(-1)?.status, 'TIMEOUT');
    assert.deepEqual(
      h.ledger.results(pipelineId).map((r) => r.status),
      ['TIMEOUT'],
    );
    const events = await h.events(pipelineId);
    assert.deepEqual(
      events.slice(-3).map((e) => [e.type, e.data.status]),
      [
        ['orchestration_complete', 'TIMEOUT'],
        ['phase_changed', 'TIMEOUT'],
        ['pipeline_finished', 'TIMEOUT'],
      ],
    );
    await h.recordHistory('timeout', handle);
  });

  test('a recovery window with nobody deciding closes the pipeline as it is', async () => {
    const short = await startHarness('recovery-window', { env: { RECOVERY_WINDOW_SECONDS: '2' } });
    try {
      const handle = await short.start({ scenario: 'no_consensus', maxRounds: 1 });
      const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
      const result = await handle.result();
      assert.equal(result.status, 'ORCHESTRATION_FAILED');
      assert.match(result.reason ?? '', /no recover within the 2s recovery window/);
      assert.deepEqual(
        short.ledger.results(pipelineId).map((r) => r.status),
        ['ORCHESTRATION_FAILED'],
      );
      await short.recordHistory('recovery-window', handle);
    } finally {
      await short.stop();
    }
  });
});
