import type { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId, pipelineWorkflowId } from '../common/ids';
import { orchestrationQuery, statusQuery, stopSignal } from '../common/messages';
import { startHarness, type Harness } from './helpers/harness';

// ALPHA hands the review of its proposal to BETA itself (workflows/directReview.ts): BETA's review
// turns come from ALPHA, the pipeline still counts the votes and decides, and where GAMMA must come in
// before the review the pipeline hands the review out as before.

let h: Harness;
before(async () => {
  h = await startHarness('direct-review');
});
after(async () => {
  await h?.stop();
});

/** Who sent each agentTurn signal an agent received, in order, with the turn's id. */
async function turnsReceived(pipelineId: string, role: 'alpha' | 'beta'): Promise<{ from: string; turnId: string }[]> {
  const history = await h.client.workflow.getHandle(agentWorkflowId(pipelineId, 'orch', role)).fetchHistory();
  return (history.events ?? [])
    .map((e: temporal.api.history.v1.IHistoryEvent) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === 'agentTurn')
    .map((a) => {
      const payload = a!.input!.payloads![0]!;
      return {
        from: a!.externalWorkflowExecution?.workflowId ?? '(client)',
        turnId: (JSON.parse(Buffer.from(payload.data!).toString()) as { turnId: string }).turnId,
      };
    });
}

test("BETA's reviews come from ALPHA; the pipeline decides consensus on them", { timeout: 120_000 }, async () => {
  const handle = await h.start({ scenario: 'consensus', latencyMs: 200 });
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  const result = await handle.result();
  assert.equal(result.status, 'COMPLETED');

  const alpha = agentWorkflowId(pipelineId, 'orch', 'alpha');
  assert.deepEqual(await turnsReceived(pipelineId, 'beta'), [
    { from: alpha, turnId: 'o1-r1-beta-evaluate' },
    { from: alpha, turnId: 'o1-r2-beta-evaluate' },
  ]);
  // ALPHA's second proposal is still the pipeline's to ask for, once it has counted BETA's vote.
  assert.deepEqual(await turnsReceived(pipelineId, 'alpha'), [{ from: pipelineWorkflowId(pipelineId), turnId: 'o1-r2-alpha-propose' }]);
  const orch = await handle.query(orchestrationQuery);
  assert.deepEqual(
    orch.votes.map((v) => [v.proposalId, v.agent, v.approve]),
    [
      ['P1', 'alpha', true],
      ['P1', 'beta', false],
      ['P2', 'alpha', true],
      ['P2', 'beta', true],
    ],
  );
  assert.equal(orch.rejectedVotes.length, 0, 'every vote was on the proposal under review');
  assert.equal(result.consensus?.proposalId, 'P2');
  // ALPHA's message to all reached BETA with the review, once (not again in a later turn).
  const betaHistory = await h.client.workflow.getHandle(agentWorkflowId(pipelineId, 'orch', 'beta')).fetchHistory();
  const betaTurns = (betaHistory.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === 'agentTurn')
    .map((a) => JSON.parse(Buffer.from(a!.input!.payloads![0]!.data!).toString()) as { proposal: { id: string }; inbox?: { from: string; round: number }[] });
  assert.deepEqual(
    betaTurns.map((t) => t.proposal.id),
    ['P1', 'P2'],
  );
  const fromAlpha = orch.messages.filter((m) => m.from === 'alpha' && (m.to === 'beta' || m.to === 'all'));
  assert.deepEqual(
    betaTurns.flatMap((t) => (t.inbox ?? []).filter((m) => m.from === 'alpha').map((m) => m.round)),
    fromAlpha.map((m) => m.round),
  );
  await h.recordHistory('direct-review', handle);
});

test('a proposal that calls GAMMA in (COMPLEXITY) is reviewed after GAMMA joins, handed out by the pipeline', { timeout: 120_000 }, async () => {
  const handle = await h.start({ scenario: 'complex' });
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  const result = await handle.result();
  assert.equal(result.status, 'COMPLETED');
  assert.deepEqual(result.gamma, { spawned: true, reason: 'COMPLEXITY' });
  const first = (await turnsReceived(pipelineId, 'beta'))[0];
  assert.deepEqual(first, { from: pipelineWorkflowId(pipelineId), turnId: 'o1-r1-beta-evaluate' });
});

test('a stop while BETA reviews a turn ALPHA handed it cancels BETA, with one result row', { timeout: 120_000 }, async () => {
  const handle = await h.start({ scenario: 'consensus', latencyMs: 1500 });
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  // P1 is posted: BETA has had its review turn from ALPHA since then.
  const t0 = Date.now();
  while ((await handle.query(orchestrationQuery)).proposals.length === 0) {
    assert.ok(Date.now() - t0 < 60_000, 'P1 posted');
    await new Promise((r) => setTimeout(r, 100));
  }
  const beta = (await handle.query(statusQuery)).agents.find((a) => a.id === agentWorkflowId(pipelineId, 'orch', 'beta'));
  assert.equal(beta?.status, 'RUNNING', 'the status shows BETA at work');
  await handle.signal(stopSignal, { reason: 'operator pressed stop' });
  const result = await handle.result();
  assert.equal(result.status, 'STOPPED');
  const described = await h.client.workflow.getHandle(agentWorkflowId(pipelineId, 'orch', 'beta')).describe();
  assert.equal(described.status.name, 'CANCELLED', "BETA's review was stopped");
  assert.deepEqual(
    h.ledger.results(pipelineId).map((r) => r.status),
    ['STOPPED'],
  );
  await h.recordHistory('direct-review-stop', handle);
});
