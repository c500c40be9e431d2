import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MirrorBatch } from '../activities/mirror';
import type { CallRecord } from '../common/types';
import { Ledger } from '../lib/ledger';
import type { TranscriptRecord } from '../lib/transcripts';
import { percentile } from './stats';

// L1: what the one ledger writer can take. Every pipeline's outbox batches (events, checkpoints,
// handoffs, LLM calls' usage, the result) are written by a single process into a single SQLite file,
// one transaction per batch, in WAL mode with synchronous=FULL (lib/ledger.ts), so each batch waits
// for its fsync. The batches replayed here are a real pipeline's, read from its history (the `mirror`
// activities' inputs), written again and again under fresh pipeline ids into a new ledger through the
// real Ledger class, one after the other as the ledger worker's one thread does. The Redis half of
// `mirror` is left out: it is asynchronous and overlaps other batches; SQLite's writes do not.
//
// In openrouter mode `mirror` also moves the batch's calls' transcripts from Redis into the ledger, in
// a transaction of its own (lib/transcripts.ts): `transcriptBytes` adds that, one transcript per call
// with that much text in its exchange (a local pipeline's calls have no transcript to replay).

export interface LedgerWriteFigures {
  /** Where the ledger file was (its disk decides the fsync cost). */
  dir: string;
  seconds: number;
  /** Pipelines' worth of batches written. */
  pipelines: number;
  batches: number;
  rows: number;
  batchesPerSecond: number;
  rowsPerSecond: number;
  /** What one pipeline writes: its batches and rows, by table. */
  perPipeline: { batches: number; rows: number; byTable: Record<string, number> };
  /** batchesPerSecond ÷ batches per pipeline: pipelines a minute the one writer can record. */
  pipelinesPerMinute: number;
  /** Per-batch latency, ms (the transcripts' transaction included when there is one). */
  batchMsP50: number;
  batchMsP99: number;
  /** Each call's transcript written after its batch, with this much exchange text; 0 when not. */
  transcriptBytes: number;
}

/** The outbox batches of a pipeline, in the order it wrote them: the `mirror` activities' inputs in its history. */
export async function outboxBatches(client: Client, workflowId: string): Promise<MirrorBatch[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const batches: MirrorBatch[] = [];
  for (const e of history.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    const payload = a?.input?.payloads?.[0];
    if (a?.activityType?.name === 'mirror' && payload) batches.push(defaultPayloadConverter.fromPayload<MirrorBatch>(payload));
  }
  if (!batches.length) throw new Error(`no outbox batch in the history of ${workflowId}`);
  return batches;
}

/** The rows each table gets from one pipeline's batches. */
export function rowsByTable(batches: MirrorBatch[]): Record<string, number> {
  const t = { pipelines: 0, audit_events: 0, checkpoints: 0, handoffs: 0, llm_calls: 0, results: 0 };
  for (const b of batches) {
    t.pipelines += b.pipeline ? 1 : 0;
    t.audit_events += b.events.length;
    t.checkpoints += b.checkpoints.length;
    t.handoffs += b.handoffs.length;
    t.llm_calls += b.calls.length;
    t.results += b.result ? 1 : 0;
  }
  return t;
}

/**
 * Writes `batches` (one pipeline's) again and again under new pipeline ids into a fresh ledger in a
 * directory made under `parent`, for at least `seconds` and whole pipelines; returns the figures.
 */
export function measureLedgerWrites(batches: MirrorBatch[], parent: string, seconds: number, transcriptBytes = 0): LedgerWriteFigures {
  const dir = mkdtempSync(join(parent, 'ag-ledger-bench-'));
  const ledger = new Ledger(join(dir, 'ledger.db'));
  const byTable: Record<string, number> = rowsByTable(batches);
  if (transcriptBytes) byTable.llm_transcripts = byTable.llm_calls!;
  const rowsPerPipeline = Object.values(byTable).reduce((a, b) => a + b, 0);
  const latencies: number[] = [];
  let pipelines = 0;
  let rows = 0;
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < seconds * 1000) {
      const pipelineId = `ledger-bench-${++pipelines}`;
      for (const b of batches) {
        const start = performance.now();
        rows += ledger.recordBatch({ ...b, pipelineId });
        if (transcriptBytes && b.calls.length) rows += ledger.recordTranscripts(b.calls.map((c) => transcriptOf(c, pipelineId, transcriptBytes)));
        latencies.push(performance.now() - start);
      }
    }
  } finally {
    ledger.close();
  }
  const elapsed = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  if (rows !== pipelines * rowsPerPipeline) throw new Error(`L1: ${rows} rows written, ${pipelines * rowsPerPipeline} expected (a batch was not new?)`);
  const at = (p: number) => Math.round(percentile(latencies, p) * 100) / 100;
  const batchesPerSecond = latencies.length / elapsed;
  return {
    dir: parent,
    seconds: Math.round(elapsed * 10) / 10,
    pipelines,
    batches: latencies.length,
    rows,
    batchesPerSecond: Math.round(batchesPerSecond),
    rowsPerSecond: Math.round(rows / elapsed),
    perPipeline: { batches: batches.length, rows: rowsPerPipeline, byTable },
    pipelinesPerMinute: Math.round((batchesPerSecond / batches.length) * 60),
    batchMsP50: at(50),
    batchMsP99: at(99),
    transcriptBytes,
  };
}

/** A transcript of `call` as an llm worker would stash it: one exchange, `bytes` of prompt and answer. */
function transcriptOf(call: CallRecord, pipelineId: string, bytes: number): TranscriptRecord {
  const text = 'x'.repeat(Math.floor(bytes / 2));
  return {
    key: call.key,
    pipelineId,
    agentId: call.agentId,
    agentRunId: call.key,
    role: call.role,
    task: call.task,
    round: call.round,
    try: call.attempt,
    attempt: 1,
    repair: null,
    model: call.model,
    usage: { promptTokens: call.promptTokens, completionTokens: call.completionTokens, totalTokens: call.totalTokens },
    outcome: 'ok',
    error: null,
    exchanges: [{ request: { model: call.model, messages: [{ role: 'user', content: text }] }, answer: text, startedAt: call.at, ms: 1 }],
    startedAt: call.at,
    endedAt: call.at,
  };
}
