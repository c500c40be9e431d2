import { WorkflowFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { statusQuery } from '../common/messages';
import { startHarness, type Harness } from './helpers/harness';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';

// The openrouter mode end to end: the real `openai` client in the worker's activity, over HTTP, to
// our fake OpenAI-compatible server; the key stays in the worker.

const KEY = 'sk-or-test-RECOGNISABLE-a1b2c3d4e5';
let fake: FakeLlm;
let h: Harness;
before(async () => {
  fake = await startFakeLlm({ apiKey: KEY });
  h = await startHarness('openrouter', { env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' } });
});
after(async () => {
  await h?.stop();
  await fake?.close();
});

describe('openrouter mode', () => {
  test('a pipeline completes through the openai client, and the key appears nowhere in its history or ledger', async () => {
    const handle = await h.start({ mode: 'openrouter', model: 'openai/gpt-4o-mini' });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.ok(result.tokens > 0, 'usage reported by the provider is counted');
    const calls = fake.requests.filter((r) => r.path.endsWith('/chat/completions'));
    assert.ok(calls.length >= 4, `the agents called the endpoint (${calls.length} calls)`);
    assert.ok(
      calls.every((c) => c.headers.authorization === `Bearer ${KEY}`),
      'the worker sent the key',
    );

    // Every answered call's usage, as the provider reported it, is in the ledger and the agents' state.
    const answered = calls
      .filter((c) => c.status === 200)
      .map((c) => (c.response as { usage: { prompt_tokens: number; completion_tokens: number; cost: number } }).usage);
    const rows = h.ledger.calls(pipelineId);
    assert.equal(rows.length, answered.length, 'one ledger row per answered call');
    assert.equal(new Set(rows.map((r) => r.key)).size, rows.length, 'each call recorded once');
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.equal(sum(rows.map((r) => r.promptTokens)), sum(answered.map((u) => u.prompt_tokens)), 'prompt tokens as reported');
    assert.equal(sum(rows.map((r) => r.completionTokens)), sum(answered.map((u) => u.completion_tokens)), 'completion tokens as reported');
    assert.equal(sum(rows.map((r) => r.totalTokens)), result.tokens, "the ledger's calls add up to the result's tokens");
    assert.ok(Math.abs(sum(rows.map((r) => r.costUsd ?? 0)) - sum(answered.map((u) => u.cost))) < 1e-9, 'the cost the provider reported');
    assert.ok(
      rows.every((r) => r.model === 'openai/gpt-4o-mini' && r.agentId.startsWith(handle.workflowId)),
      'each row names its model and agent',
    );
    const status = await handle.query(statusQuery);
    const costs = status.agents.map((a) => a.usage?.costUsd ?? 0);
    assert.ok(Math.abs(sum(costs) - sum(answered.map((u) => u.cost))) < 1e-6, `the agents' state carries their cost (${costs.join(', ')})`);
    assert.equal(sum(status.agents.map((a) => a.usage?.calls ?? 0)), answered.length);

    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(!history.includes(KEY) && !history.includes('RECOGNISABLE'), 'the key is not in the history');
    assert.ok(!readFileSync(h.ledger.path, 'latin1').includes('RECOGNISABLE'), 'the key is not in the ledger');
    assert.ok(!JSON.stringify(await h.events(pipelineId)).includes('RECOGNISABLE'), 'the key is not in the events');
  });

  test('a rejected key (401) ends the pipeline within seconds, saying why', async () => {
    fake.addFault({ kind: 'status', status: 401, times: 100 });
    try {
      const started = Date.now();
      const handle = await h.start({ mode: 'openrouter' });
      const err = await handle.result().then(
        () => assert.fail('the pipeline completed with a rejected key'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String((err.cause as Error).message), /LlmAuth/);
      assert.ok(Date.now() - started < 20_000, 'no minutes of retries');
      const status = await handle.query(statusQuery);
      assert.equal(status.status, 'FAILED');
      assert.ok(status.agents.every((a) => a.status === 'REVOKED' && /LlmAuth/.test(a.revokedReason ?? '')));
      assert.ok(!JSON.stringify(await handle.fetchHistory()).includes('RECOGNISABLE'), 'the key is not in the history, even when the provider echoes it');
    } finally {
      fake.clearFaults();
    }
  });
});
