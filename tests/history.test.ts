import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId } from '../common/ids';
import { recoverUpdate } from '../common/messages';
import { startHarness, type Harness } from './helpers/harness';

// A long orchestration stays within bounded history: the events each round adds are measured on the
// real server, and the largest run the input allows (maxRounds 100) must stay under the server's
// warning limit (10,240 events) for the pipeline and for each agent.

const WARN_LIMIT = 10_240;
let h: Harness;
before(async () => {
  h = await startHarness('history');
});
after(async () => {
  await h?.stop();
});

async function lengths(maxRounds: number) {
  const handle = await h.start({ scenario: 'no_consensus', maxRounds, thresholds: { conflictCount: 1000 } });
  await h.waitForStatus(handle, 'ORCHESTRATION_FAILED', 60_000);
  await handle.executeUpdate(recoverUpdate, { args: [{ action: 'accept_partial' }] });
  await handle.result();
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  const count = async (id: string) => (await h.client.workflow.getHandle(id).fetchHistory()).events!.length;
  return {
    pipeline: await count(handle.workflowId),
    agent: Math.max(await count(agentWorkflowId(pipelineId, 'orch', 'alpha')), await count(agentWorkflowId(pipelineId, 'orch', 'beta'))),
  };
}

test('history grows linearly per round and a 100-round orchestration stays under the warning limit', async (t) => {
  const four = await lengths(4);
  const twelve = await lengths(12);
  const perRound = { pipeline: (twelve.pipeline - four.pipeline) / 8, agent: (twelve.agent - four.agent) / 8 };
  const at100 = { pipeline: Math.round(four.pipeline + perRound.pipeline * 96), agent: Math.round(four.agent + perRound.agent * 96) };
  // In the report, not in stray output: the figures are the point of this test.
  t.diagnostic(
    `history events: 4 rounds ${JSON.stringify(four)}, 12 rounds ${JSON.stringify(twelve)}, per round ${JSON.stringify(perRound)}, projected at 100 rounds ${JSON.stringify(at100)}`,
  );
  assert.ok(at100.pipeline < WARN_LIMIT, `pipeline at 100 rounds: ${at100.pipeline} events`);
  assert.ok(at100.agent < WARN_LIMIT, `agent at 100 rounds: ${at100.agent} events`);
});
