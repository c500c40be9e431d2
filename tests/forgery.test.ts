import { WorkflowFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { agentWorkflowId, pipelineIdFromWorkflowId, pipelineWorkflowId } from '../common/ids';
import { orchestrationQuery, statusQuery } from '../common/messages';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// Id squatting and forged input, the workflow's side (issue #15, item 4): an input that names another
// pipeline, a workflow id that is another pipeline's agent's, and internal signals sent by anyone but
// the pipeline's own children. Each is refused or dropped, and nothing of the victim changes.

let h: Harness;
before(async () => {
  h = await startHarness('forgery');
});
after(async () => {
  await h?.stop();
});

async function failure(run: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  const err = await run.then(
    () => assert.fail('the workflow should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  const cause = err.cause as { type?: string; message: string };
  return { type: cause.type, message: cause.message };
}

describe('forged input', () => {
  test("an input naming another pipeline fails at once and touches nothing of that pipeline's", async () => {
    const victim = uniqueId('victim');
    const victimHandle = await h.start({ autoContinue: false }, victim);
    await h.waitForStatus(victimHandle, 'REPORT');
    // The status query runs ahead of the outbox: wait for REPORT's event too, so what follows is quiet.
    for (let i = 0; i < 100 && !(await h.events(victim)).some((e) => e.type === 'phase_changed' && e.data.phase === 'REPORT'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const eventsBefore = await h.events(victim);

    const attacker = await h.start({ pipelineId: victim }, uniqueId('attacker'));
    const f = await failure(attacker.result());
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /pipelineId/);
    const history = (await attacker.fetchHistory()).events ?? [];
    assert.ok(!history.some((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes), 'no activity ran: nothing was written');
    assert.deepEqual(await h.events(victim), eventsBefore, "the victim's events are as they were");
    assert.equal((await victimHandle.query(statusQuery)).status, 'REPORT');
    await victimHandle.terminate('test over');
    await h.recordHistory('forged-pipeline-id', attacker);
  });

  test("a pipeline whose workflow id is another pipeline's agent's is refused", async () => {
    const victim = uniqueId('victim2');
    const squatter = await h.start({}, `${victim}-orch-alpha`);
    const f = await failure(squatter.result());
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /ALPHA agent/);
    // The id is free again: the victim's orchestration can start its ALPHA.
    const handle = await h.start({ scenario: 'consensus' }, victim);
    assert.equal((await handle.result()).status, 'COMPLETED');
  });
});

describe('forged internal signals', () => {
  test('agentTurnResult and agentProgress from outside the pipeline are dropped; the run is unchanged', async () => {
    // Slow simulated calls keep the pipeline in its first round while the forgeries arrive.
    const handle = await h.start({ scenario: 'consensus', latencyMs: 1500 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'ORCHESTRATING');
    const raw = h.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    const alpha = agentWorkflowId(pipelineId, 'orch', 'alpha');
    const forgedProposal = {
      title: 'FORGED proposal',
      summary: 'x',
      design: { approach: 'x', components: 'x', tradeoffs: 'x', risks: 'x', rollout: 'x' },
      complexity: 0.1,
    };
    const forgeries: [string, unknown][] = [
      [
        'agentTurnResult',
        { key: 'guess', turnId: 'o1-r1-alpha-propose', from: 'alpha', round: 1, proposal: forgedProposal, tokens: 1, errors: 0, violations: 0 },
      ],
      [
        'agentTurnResult',
        {
          turnId: 'o1-r1-beta-evaluate',
          from: 'beta',
          round: 1,
          vote: { proposalId: 'P1', approve: false, reason: 'FORGED' },
          tokens: 0,
          errors: 0,
          violations: 0,
        },
      ],
      ['agentProgress', { key: 'guess', agentId: alpha, tokens: 999_999, errors: 99, violations: 99 }],
      ['agentTurnResult', null],
      ['agentTurnResult', 'junk'],
      ['agentProgress', 7],
    ];
    for (const [name, payload] of forgeries) await raw.signal(name, payload);
    const during = await handle.query(statusQuery);
    assert.ok(!during.agents.some((a) => a.tokens === 999_999 || a.errors === 99), 'no agent took the forged counts');

    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    const orch = await handle.query(orchestrationQuery);
    assert.ok(!orch.proposals.some((p) => p.title === 'FORGED proposal'), 'the forged proposal was not posted');
    assert.ok(!orch.votes.some((v) => v.reason === 'FORGED'), 'the forged vote was not counted');
    assert.ok(result.tokens < 999_999);
    const history = (await handle.fetchHistory()).events ?? [];
    assert.ok(!history.some((e) => e.workflowTaskFailedEventAttributes), 'no workflow task failed on a forged signal');
    await h.recordHistory('forged-signals', handle);
  });
});
