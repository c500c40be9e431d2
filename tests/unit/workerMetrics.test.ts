import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { EventDataMap, EventType, PipelineEvent } from '../../common/types';
import { Ledger, type LedgerBatch } from '../../lib/ledger';
import { countPipelineEvents } from '../../lib/metrics/pipelineEvents';
import { createWorkerMetrics, type WorkerMetrics } from '../../lib/metrics/series';
import { parseSamples, sumOf } from '../helpers/prom';

// The pipeline figures as the ledger writer derives them (activities/mirror.ts): from the events a
// batch writes for the first time, on a real SQLite ledger. A batch sent again (Temporal runs an
// activity at least once) counts nothing again.

const ledger = new Ledger(join(mkdtempSync(join(tmpdir(), 'ag-metrics-')), 'ledger.db'));
after(() => ledger.close());

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
let seq = 0;
const ev = <T extends EventType>(type: T, data: EventDataMap[T], atSeconds: number): PipelineEvent => ({
  type,
  pipeline_id: 'm1',
  seq: ++seq,
  ts: new Date(T0 + atSeconds * 1000).toISOString(),
  data: { pipeline_id: 'm1', ...data },
});

const batch = (events: PipelineEvent[]): LedgerBatch => ({ pipelineId: 'm1', runKey: 'r1', checkpoints: [], handoffs: [], events, calls: [] });

/** What the mirror activity does with a batch: write it, count what was new. */
function mirror(m: WorkerMetrics, events: PipelineEvent[], now: number): void {
  const { newEvents } = ledger.writeBatch(batch(events));
  countPipelineEvents(m, newEvents, (s) => ledger.phaseStartBefore({ pipelineId: 'm1', runKey: 'r1' }, s), now);
}

describe('pipeline metrics from the ledger writer', () => {
  test('a pipeline counted once however often its batches are retried, with phase durations, rounds, GAMMA, revocations and lag', async () => {
    const m = createWorkerMetrics({ models: ['openai/gpt-4o-mini'] });
    const first = [
      ev('pipeline_spawned', { objective: 'o', mode: 'openrouter', model: 'openai/gpt-4o-mini', scenario: 'consensus', auto_continue: true }, 0),
      ev('phase_changed', { phase: 'RUN', status: 'RUNNING' }, 2),
      ev('phase_changed', { phase: 'REPORT', status: 'REPORT' }, 12),
      ev('phase_changed', { phase: 'ORCHESTRATE', status: 'ORCHESTRATING' }, 3612),
      ev('gamma_spawned', { reason: 'CONFLICT', detail: '3 unresolved proposals', attempt: 1 }, 3620),
    ];
    mirror(m, first, T0 + 3621_000);
    mirror(m, first, T0 + 3700_000); // the activity retried: the ledger has these rows
    const second = [
      ev(
        'agent_revoked',
        {
          agent_id: 'pipeline-m1-orch-beta',
          role: 'BETA',
          reason: 'LlmServer 2 times in a row (repeat budget 2); last error boom',
          handoff: { did: [], left: '' },
        },
        3630,
      ),
      ev(
        'orchestration_complete',
        {
          status: 'COMPLETED',
          results: { consensus: { proposalId: 'P3' } as never, partial: null, rounds: 3, proposals: 3, revoked: ['beta'], attempts: 1 },
        },
        3660,
      ),
      ev('phase_changed', { phase: 'COMPLETE', status: 'COMPLETED' }, 3660),
      ev('pipeline_finished', { status: 'COMPLETED', reason: null, rounds: 3, tokens: 100, cost_usd: 0 }, 3661),
    ];
    // Sent with the first batch again (a Redis backlog goes out with the next batch): only the new ones count.
    mirror(m, [...first, ...second], T0 + 3662_000);
    mirror(m, second, T0 + 3663_000);

    const body = await m.registry.metrics();
    assert.equal(sumOf(body, 'pipelines_started_total', { mode: 'openrouter' }), 1);
    assert.equal(sumOf(body, 'pipelines_ended_total', { status: 'COMPLETED' }), 1);
    const phase = (p: string) => [
      sumOf(body, 'pipeline_phase_duration_seconds_count', { phase: p }),
      sumOf(body, 'pipeline_phase_duration_seconds_sum', { phase: p }),
    ];
    assert.deepEqual(phase('SPAWN'), [1, 2]);
    assert.deepEqual(phase('RUN'), [1, 10]);
    assert.deepEqual(phase('REPORT'), [1, 3600], 'an hour waiting for approval');
    assert.deepEqual(phase('ORCHESTRATE'), [1, 48]);
    assert.deepEqual(phase('COMPLETE'), [1, 1], 'the last phase ends with pipeline_finished');
    assert.equal(sumOf(body, 'pipeline_consensus_rounds_count'), 1);
    assert.equal(sumOf(body, 'pipeline_consensus_rounds_sum'), 3);
    assert.equal(sumOf(body, 'gamma_spawns_total', { reason: 'CONFLICT' }), 1);
    assert.equal(sumOf(body, 'agent_revocations_total', { role: 'beta', reason: 'same' }), 1);
    assert.equal(sumOf(body, 'outbox_lag_seconds_count'), first.length + second.length, 'each event lagged once');
    // The first batch's lag: from 0..3620s after T0 to T0+3621s.
    assert.equal(sumOf(body, 'outbox_lag_seconds_bucket', { le: '1' }), 2, 'gamma_spawned (1s) and pipeline_finished (1s)');
  });

  test('label values stay in closed sets: unknown roles, statuses, reasons and models become "other"', async () => {
    const m = createWorkerMetrics({ models: ['openai/gpt-4o-mini'] });
    assert.equal(m.modelLabel('openai/gpt-4o-mini'), 'openai/gpt-4o-mini');
    assert.equal(m.modelLabel('someone/else'), 'other');
    assert.equal(m.modelLabel('anything', 'local'), 'local simulator');
    seq = 100;
    countPipelineEvents(
      m,
      [
        ev('pipeline_finished', { status: 'WEIRD' as never, reason: null, rounds: 0, tokens: 0, cost_usd: 0 }, 1),
        ev('agent_revoked', { agent_id: 'x', role: 'DELTA', reason: 'a reason nobody wrote', handoff: { did: [], left: '' } }, 1),
        ev('gamma_spawned', { reason: 'WHIM' as never, detail: null, attempt: 1 }, 1),
      ],
      () => undefined,
      T0 + 2000,
    );
    const samples = parseSamples(await m.registry.metrics());
    const values = (name: string, label: string) => samples.filter((s) => s.name === name).map((s) => s.labels[label]);
    assert.deepEqual(values('pipelines_ended_total', 'status'), ['other']);
    assert.deepEqual(values('agent_revocations_total', 'role'), ['other']);
    assert.deepEqual(values('agent_revocations_total', 'reason'), ['other']);
    assert.deepEqual(values('gamma_spawns_total', 'reason'), ['other']);
  });
});
