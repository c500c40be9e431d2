import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONTRACT_DEFAULTS, parsePipelineInput, resolveSettings } from '../../common/input';
import { costOverrun, priceCall, usd } from '../../governance/costBudget';
import { ConfigError, parseConfig, pipelineDefaults } from '../../lib/config';
import { AgentChannel } from '../../workflows/agentChannel';
import type { PipelineState } from '../../workflows/pipelineState';

// The cost budget's rule, its input field and its configuration (the pipeline's use of it is in
// tests/costBudget.test.ts).

describe('cost budget', () => {
  test('spent once the sum reaches the budget; nothing spent is never over', () => {
    assert.equal(costOverrun(0.049, 0.05), null);
    assert.equal(costOverrun(0.05, 0.05), 'cost budget of $0.05 spent ($0.05)');
    assert.equal(costOverrun(0.0512345, 0.05), 'cost budget of $0.05 spent ($0.05123)');
    assert.equal(costOverrun(0, 0.0001), null);
    assert.equal(usd(5), '$5');
    assert.equal(usd(0.000234), '$0.000234');
  });

  test('budgets.costUsd: a positive number of dollars, no string, no zero', () => {
    assert.equal(parsePipelineInput({ objective: 'x', budgets: { costUsd: 0.5 } }).budgets?.costUsd, 0.5);
    for (const [costUsd, why] of [
      ['0.5', /"budgets.costUsd" must be a number/],
      [0, /"budgets.costUsd" must be at least 0.0001/],
      [-1, /must be at least/],
      [1e9, /must be at most 100000/],
    ] as const) {
      assert.throws(() => parsePipelineInput({ objective: 'x', budgets: { costUsd } }), why);
    }
  });

  test("PIPELINE_COST_BUDGET_USD is the pipelines' default; the input overrides it", () => {
    const defaults = pipelineDefaults(parseConfig({ PIPELINE_COST_BUDGET_USD: '0.75' }));
    assert.equal(defaults.budgets.costUsd, 0.75);
    assert.equal(resolveSettings({ objective: 'x' }, 'p', defaults).budgets.costUsd, 0.75);
    assert.equal(resolveSettings({ objective: 'x', budgets: { costUsd: 2 } }, 'p', defaults).budgets.costUsd, 2);
    assert.equal(pipelineDefaults(parseConfig({})).budgets.costUsd, CONTRACT_DEFAULTS.budgets.costUsd);
    for (const bad of ['0', 'five', '-3']) {
      assert.throws(
        () => parseConfig({ PIPELINE_COST_BUDGET_USD: bad }),
        (e: unknown) => e instanceof ConfigError && e.variable === 'PIPELINE_COST_BUDGET_USD',
      );
    }
  });

  test('LLM_PRICES prices the calls of a provider that reports no cost (USD per million tokens)', () => {
    const prices = parseConfig({ LLM_PRICES: '{"llama3.1": {"prompt": 0.1, "completion": 0.3}}' }).LLM_PRICES!;
    assert.equal(priceCall({ promptTokens: 1_000_000, completionTokens: 2_000_000 }, ['llama3.1:8b', 'llama3.1'], prices), 0.7);
    assert.equal(priceCall({ promptTokens: 10, completionTokens: 10 }, ['other'], prices), undefined, 'no price, no cost');
    for (const bad of ['{"m": {"prompt": "0.1", "completion": 1}}', 'not json', '{"m": {"prompt": -1, "completion": 1}}', '{"m": {"input": 1}}']) {
      assert.throws(
        () => parseConfig({ LLM_PRICES: bad }),
        (e: unknown) => e instanceof ConfigError && e.variable === 'LLM_PRICES',
        bad,
      );
    }
  });
});

describe('cost budget across continue-as-new', () => {
  // A `recover` rerun continues as new: what the first run's calls cost must count against the same budget.
  const channel = () => new AgentChannel({} as PipelineState);
  test('the spend is carried to the next run; a carry of 0.2.0 (without it) starts at 0', () => {
    const first = channel();
    first.costUsd = 0.042;
    const next = channel();
    next.restore(first.snapshot());
    assert.equal(next.costUsd, 0.042);
    const old = channel();
    old.restore({ views: [], tokens: 10, breaker: null });
    assert.equal(old.costUsd, 0);
  });
});
