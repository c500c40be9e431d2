import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId } from '../common/ids';
import type { PipelineEvent } from '../common/types';
import { startHarness, type Harness } from './helpers/harness';

// The six events of the original design keep their names and data (CONTRACT.md, "Events"): checked
// field by field on a real run, so renaming one breaks this test, not a watcher in production.

let h: Harness;
before(async () => {
  h = await startHarness('event-contract');
});
after(async () => {
  await h?.stop();
});

const ofType = (events: PipelineEvent[], type: PipelineEvent['type']) => events.filter((e) => e.type === type);

test("a run's events carry the contract's fields: orchestration_started, agent_spawned, agent_message, gamma_spawned, consensus_reached, orchestration_complete", async () => {
  // COMPLEXITY brings GAMMA in, so one run emits all six.
  const handle = await h.start({ scenario: 'complex' });
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  const result = await handle.result();
  assert.equal(result.status, 'COMPLETED');
  const events = await h.events(pipelineId);
  for (const e of events) {
    assert.equal(e.pipeline_id, pipelineId);
    assert.equal(e.data.pipeline_id, pipelineId, `${e.type} carries pipeline_id in its data`);
  }

  const [started] = ofType(events, 'orchestration_started');
  assert.equal(started?.data.model, 'local simulator');
  assert.deepEqual(started?.data.agents, ['ALPHA', 'BETA']);

  // In the order each child's start was confirmed, which is the server's.
  const spawned = ofType(events, 'agent_spawned');
  assert.deepEqual(
    spawned.map((e) => [e.data.agent_id, e.data.role, e.data.runtime]).sort(),
    [
      [agentWorkflowId(pipelineId, 'run', 'alpha'), 'ALPHA', 'temporal:research'],
      [agentWorkflowId(pipelineId, 'run', 'beta'), 'BETA', 'temporal:synthesis'],
      [agentWorkflowId(pipelineId, 'orch', 'alpha'), 'ALPHA', 'temporal:research'],
      [agentWorkflowId(pipelineId, 'orch', 'beta'), 'BETA', 'temporal:synthesis'],
      [agentWorkflowId(pipelineId, 'orch', 'gamma'), 'GAMMA', 'temporal:mediator'],
    ].sort(),
  );

  const messages = ofType(events, 'agent_message');
  assert.ok(messages.length > 0, 'the agents talked');
  for (const m of messages) {
    assert.match(String(m.data.from), /^(ALPHA|BETA|GAMMA|PIPELINE)$/);
    assert.match(String(m.data.to), /^(ALPHA|BETA|GAMMA|ALL)$/);
    assert.ok(typeof m.data.content === 'string' && m.data.content.length > 0);
  }

  const [gamma] = ofType(events, 'gamma_spawned');
  assert.equal(gamma?.data.reason, 'COMPLEXITY');

  const [consensus] = ofType(events, 'consensus_reached');
  assert.equal(consensus?.data.proposal_id, result.consensus?.proposalId);
  const votes = consensus?.data.votes as { agent: string; approve: boolean }[];
  assert.deepEqual(votes.map((v) => v.agent).sort(), result.consensus?.votes.map((v) => v.agent.toUpperCase()).sort());
  assert.ok(votes.every((v) => v.approve === true));

  const [complete] = ofType(events, 'orchestration_complete');
  assert.equal(complete?.data.status, 'COMPLETED');
  const results = complete?.data.results as { consensus: { proposalId: string } | null; rounds: number };
  assert.equal(results.consensus?.proposalId, result.consensus?.proposalId);
  assert.equal(results.rounds, result.rounds);
});
