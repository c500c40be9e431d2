import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { reportQuery, statusQuery } from '../common/messages';
import { startFakeLlm, type FakeLlm, type RecordedRequest } from '../devstack/fakeLlm';
import { startHarness, type Harness } from './helpers/harness';

// The per-pipeline cost budget end to end: the real `openai` client in the worker, over HTTP to the
// fake server, which reports each call's cost in `usage.cost` as OpenRouter does; the pipeline sums
// it and stops once its budget is spent.

const KEY = 'sk-or-test-COSTBUDGET-0123456789';
/** Dear enough that a few calls spend a small budget: a call of 100–350 tokens costs $0.01–0.035. */
const COST_PER_TOKEN = 0.0001;
let fake: FakeLlm;
let h: Harness;
before(async () => {
  fake = await startFakeLlm({ apiKey: KEY, costPerToken: COST_PER_TOKEN });
  h = await startHarness('cost', { env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' } });
});
after(async () => {
  await h?.stop();
  await fake?.close();
});

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const costOf = (r: RecordedRequest): number => (r.response as { usage?: { cost?: number } } | undefined)?.usage?.cost ?? 0;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('cost budget', () => {
  test('a pipeline that spends its cost budget stops, says why, and makes no more calls', async () => {
    // RUN's two calls cost ~$0.023 and a round's proposal ~$0.034: spent at the first proposal, before
    // the review that would complete the pipeline.
    const BUDGET = 0.05;
    fake.reset();
    const handle = await h.start({ mode: 'openrouter', budgets: { costUsd: BUDGET } });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();

    assert.equal(
      result.status,
      'STOPPED',
      `stopped by the budget, not ${result.status} (${result.reason ?? ''}; calls cost ${fake.completions().map(costOf).join(', ')})`,
    );
    assert.match(result.reason ?? '', /^cost budget of \$0\.05 spent \(\$0\.\d+\)$/);
    const calls = fake.completions();
    const perCall = Math.max(...calls.map(costOf));
    assert.ok(result.costUsd !== undefined && result.costUsd >= BUDGET, `the budget was reached (${result.costUsd})`);
    // Stopped as soon as the turn that spent it was reported: at most the calls in flight then on top.
    assert.ok(sum(calls.map(costOf)) < BUDGET + 3 * perCall, `spent ${sum(calls.map(costOf))} of ${BUDGET} (a call costs up to ${perCall})`);

    const status = await handle.query(statusQuery);
    assert.deepEqual(status.cost, { spentUsd: result.costUsd, budgetUsd: BUDGET }, 'the status query shows the cost and the budget');
    assert.ok(
      (await handle.query(reportQuery))?.notes.some((n) => n.includes(result.reason!)),
      'the report says why it ended',
    );

    const events = await h.events(pipelineId);
    const finished = events.find((e) => e.type === 'pipeline_finished');
    assert.deepEqual([finished?.data.status, finished?.data.reason, finished?.data.cost_usd], ['STOPPED', result.reason, result.costUsd]);
    assert.ok(
      events.some((e) => e.type === 'agent_message' && e.data.from === 'PIPELINE' && String(e.data.content).startsWith(result.reason!)),
      'an event says the budget was spent',
    );

    await until('the result reaches the ledger', () => h.ledger.results(pipelineId).length > 0);
    const rows = h.ledger.results(pipelineId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.data.costUsd, result.costUsd, "the ledger's result carries the cost");
    await until('the calls reach the ledger', () => Math.abs(sum(h.ledger.calls(pipelineId).map((c) => c.costUsd ?? 0)) - result.costUsd!) < 1e-9);

    const made = fake.completions().length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(fake.completions().length, made, 'no call after the stop');
    await h.recordHistory('cost-budget-spent', handle);
  });

  test('within its budget a pipeline completes, and its result and status show what it cost', async () => {
    fake.reset();
    const handle = await h.start({ mode: 'openrouter', budgets: { costUsd: 100 } });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    const reported = sum(fake.completions().map(costOf));
    assert.ok(reported > 0);
    assert.ok(Math.abs((result.costUsd ?? -1) - reported) < 1e-9, `the cost is what the provider reported (${result.costUsd} vs ${reported})`);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.cost, { spentUsd: result.costUsd, budgetUsd: 100 });
  });

  test('the worker default applies when the input names none; the simulator costs nothing', async () => {
    const handle = await h.start({ mode: 'local', budgets: { costUsd: 0.0001 } });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED', 'a local run is free: the smallest budget does not stop it');
    assert.equal(result.costUsd, 0);
    const dflt = await h.start({ mode: 'local' });
    await dflt.result();
    assert.equal((await dflt.query(statusQuery)).cost.budgetUsd, h.config.PIPELINE_COST_BUDGET_USD);
  });
});

describe('cost budget with a price table', () => {
  // A provider that reports no cost (the fake leaves `usage.cost` out), priced by LLM_PRICES instead.
  let plain: FakeLlm;
  let hp: Harness;
  before(async () => {
    plain = await startFakeLlm({ apiKey: KEY, costPerToken: 0 });
    hp = await startHarness('cost-prices', {
      env: {
        OPENROUTER_API_KEY: KEY,
        OPENROUTER_BASE_URL: plain.url,
        BREAKER_FAILURES: '1000',
        LLM_PRICES: JSON.stringify({ 'fake/priced': { prompt: 100, completion: 100 } }),
      },
    });
  });
  after(async () => {
    await hp?.stop();
    await plain?.close();
  });

  test('the calls are priced from the table, and the budget stops the pipeline as with a reported cost', async () => {
    const handle = await hp.start({ mode: 'openrouter', model: 'fake/priced', budgets: { costUsd: 0.05 } });
    const result = await handle.result();
    const calls = plain.completions();
    assert.ok(
      calls.every((c) => (c.response as { usage?: { cost?: number } }).usage?.cost === undefined),
      'the provider reported no cost',
    );
    assert.equal(result.status, 'STOPPED', `${result.status} (${result.reason ?? ''})`);
    assert.match(result.reason ?? '', /^cost budget of \$0\.05 spent/);
    const tokens = (c: RecordedRequest) => (c.response as { usage?: { total_tokens?: number } }).usage?.total_tokens ?? 0;
    const priced = hp.ledger.calls(pipelineIdFromWorkflowId(handle.workflowId));
    assert.ok(priced.length > 0 && priced.every((r) => Math.abs((r.costUsd ?? 0) - (r.totalTokens * 100) / 1e6) < 1e-9), 'each call priced by its tokens');
    assert.ok(sum(calls.map(tokens)) > 0);
  });

  test('a model without a price costs nothing, and its pipeline completes', async () => {
    const handle = await hp.start({ mode: 'openrouter', model: 'fake/unpriced', budgets: { costUsd: 0.0001 } });
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.equal(result.costUsd, 0);
  });
});
