import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { withCounterTotals } from '../../lib/metrics/sdkRelay';
import { ALERTS_FILE, ALERTS_TEST_FILE, alertRules, dashboard } from '../helpers/monitoring';
import { findPromtool, promtool, PROMTOOL_MISSING } from '../helpers/prom';

// The shipped alert rules and dashboard (monitoring/), checked by Prometheus's own tool: the rules
// load, and each alert fires on a made-up series and stays quiet on a healthy one (alerts.test.yml).
// That they read only series the processes serve is checked against live bodies in tests/metrics.test.ts.

const ALERTS = [
  'OutboxLedgerStalled',
  'OutboxRedisStalled',
  'OutboxLagHigh',
  'LlmBreakerOpen',
  'PipelineWaitingAtReport',
  'PipelineFailureRateHigh',
  'LlmCallFailureRateHigh',
];

describe('alert rules', () => {
  test('promtool check rules accepts alerts.yml', (t) => {
    const bin = findPromtool();
    if (!bin) return t.skip(PROMTOOL_MISSING);
    const r = promtool(bin, ['check', 'rules', ALERTS_FILE]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  });

  test('promtool test rules: every alert fires on its made-up series (alerts.test.yml)', (t) => {
    const bin = findPromtool();
    if (!bin) return t.skip(PROMTOOL_MISSING);
    const r = promtool(bin, ['test', 'rules', ALERTS_TEST_FILE]);
    assert.equal(r.status, 0, r.output);
  });

  test('the stalled outbox, the open breaker, the wait at REPORT and the failure rates each have an alert with a severity and a summary', () => {
    const rules = alertRules();
    assert.deepEqual(rules.map((r) => r.alert).sort(), [...ALERTS].sort());
    for (const r of rules) {
      assert.match(r.labels?.severity ?? '', /^(warning|critical)$/, `${r.alert} has a severity`);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert} says what happened and what to check`);
      assert.ok(r.for, `${r.alert} waits before firing (no alert on one scrape)`);
    }
  });

  test('the rules unit test covers every alert', () => {
    const text = readFileSync(ALERTS_TEST_FILE, 'utf8');
    for (const a of ALERTS) assert.match(text, new RegExp(`alertname: ${a}\\b`), `${a} is tested`);
  });
});

describe('dashboard', () => {
  test('a Grafana dashboard with a Prometheus data source variable; every panel queries through it', () => {
    const d = dashboard();
    assert.equal(d.uid, 'agent-governance');
    assert.ok(d.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
    const panels = d.panels.filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 15, `${panels.length} panels`);
    for (const p of panels) {
      assert.equal(p.datasource?.uid, '${datasource}', `"${p.title}" uses the data source variable`);
      assert.ok(p.targets?.length && p.targets.every((t) => t.expr.trim()), `"${p.title}" has queries`);
    }
    const all = JSON.stringify(d);
    for (const series of [
      'pipelines_started_total',
      'pipelines_ended_total',
      'pipeline_phase_duration_seconds_bucket',
      'pipeline_consensus_rounds',
      'gamma_spawns_total',
      'agent_revocations_total',
      'llm_calls_total',
      'llm_call_duration_seconds_bucket',
      'llm_tokens_total',
      'llm_cost_usd_total',
      'llm_breaker_state',
      'llm_breaker_transitions_total',
      'outbox_lag_seconds_bucket',
      'outbox_stalled_pipelines',
    ]) {
      assert.ok(all.includes(series), `the dashboard shows ${series}`);
    }
  });
});

describe('the SDK metrics relay', () => {
  test('adds _total to counters that lack it, in HELP, TYPE and samples, and leaves the rest alone', () => {
    const body = [
      '# HELP temporal_request Count of client request successes by rpc name',
      '# TYPE temporal_request counter',
      'temporal_request{operation="PollWorkflowTaskQueue"} 3',
      'temporal_request 1',
      '# HELP temporal_request_latency_seconds Histogram of client request latencies',
      '# TYPE temporal_request_latency_seconds histogram',
      'temporal_request_latency_seconds_bucket{le="0.05"} 1',
      '# HELP temporal_done_total Already suffixed',
      '# TYPE temporal_done_total counter',
      'temporal_done_total 2',
      '# TYPE temporal_num_pollers gauge',
      'temporal_num_pollers{poller_type="workflow_task"} 2',
      '',
    ].join('\n');
    assert.equal(
      withCounterTotals(body),
      [
        '# HELP temporal_request_total Count of client request successes by rpc name',
        '# TYPE temporal_request_total counter',
        'temporal_request_total{operation="PollWorkflowTaskQueue"} 3',
        'temporal_request_total 1',
        '# HELP temporal_request_latency_seconds Histogram of client request latencies',
        '# TYPE temporal_request_latency_seconds histogram',
        'temporal_request_latency_seconds_bucket{le="0.05"} 1',
        '# HELP temporal_done_total Already suffixed',
        '# TYPE temporal_done_total counter',
        'temporal_done_total 2',
        '# TYPE temporal_num_pollers gauge',
        'temporal_num_pollers{poller_type="workflow_task"} 2',
        '',
      ].join('\n'),
    );
  });
});
