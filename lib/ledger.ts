import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CallRecord, Handoff, PipelineEvent, PipelineResult, PipelineSettings } from '../common/types';
import type { TranscriptRecord } from './transcripts';

// The SQLite ledger: pipelines, audit events, checkpoints, results, handoffs, every LLM call's usage and transcript. Written only from activities,
// which Temporal runs at least once, so every write is keyed and idempotent: a row is identified by
// the pipeline, its run (first execution run id, stable across continue-as-new) and a key the
// workflow chose deterministically, and a repeated write is ignored.
//
// One writer, the worker with the ledger role (Ledger), creates the file and runs the DDL. Readers (the
// API: LedgerReader) open it read-only and never change it, whatever order the processes start in.

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pipelines (
  pipeline_id TEXT NOT NULL,
  run_key     TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  objective   TEXT NOT NULL,
  mode        TEXT NOT NULL,
  model       TEXT NOT NULL,
  scenario    TEXT NOT NULL,
  settings    TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (pipeline_id, run_key)
);
CREATE TABLE IF NOT EXISTS audit_events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline_id TEXT NOT NULL,
  run_key     TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  type        TEXT NOT NULL,
  data        TEXT NOT NULL,
  ts          TEXT NOT NULL,
  UNIQUE (pipeline_id, run_key, seq)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline_id TEXT NOT NULL,
  run_key     TEXT NOT NULL,
  key         TEXT NOT NULL,
  phase       TEXT NOT NULL,
  status      TEXT NOT NULL,
  data        TEXT NOT NULL,
  ts          TEXT NOT NULL,
  UNIQUE (pipeline_id, run_key, key)
);
CREATE TABLE IF NOT EXISTS results (
  pipeline_id TEXT NOT NULL,
  run_key     TEXT NOT NULL,
  status      TEXT NOT NULL,
  data        TEXT NOT NULL,
  ts          TEXT NOT NULL,
  PRIMARY KEY (pipeline_id, run_key)
);
CREATE TABLE IF NOT EXISTS handoffs (
  pipeline_id TEXT NOT NULL,
  run_key     TEXT NOT NULL,
  agent_id    TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  role        TEXT NOT NULL,
  reason      TEXT NOT NULL,
  data        TEXT NOT NULL,
  ts          TEXT NOT NULL,
  PRIMARY KEY (pipeline_id, run_key, agent_id, attempt)
);
CREATE TABLE IF NOT EXISTS llm_calls (
  pipeline_id       TEXT NOT NULL,
  run_key           TEXT NOT NULL,
  call_key          TEXT NOT NULL,
  agent_id          TEXT NOT NULL,
  role              TEXT NOT NULL,
  task              TEXT NOT NULL,
  round             INTEGER NOT NULL,
  attempt           INTEGER NOT NULL,
  model             TEXT NOT NULL,
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  total_tokens      INTEGER NOT NULL,
  cost_usd          REAL,
  ts                TEXT NOT NULL,
  PRIMARY KEY (pipeline_id, run_key, call_key)
);
CREATE TABLE IF NOT EXISTS llm_transcripts (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline_id       TEXT NOT NULL,
  call_key          TEXT NOT NULL,
  agent_id          TEXT NOT NULL,
  agent_run_id      TEXT NOT NULL,
  role              TEXT NOT NULL,
  task              TEXT NOT NULL,
  round             INTEGER NOT NULL,
  try               INTEGER NOT NULL,
  attempt           INTEGER NOT NULL,
  repair            TEXT,
  model             TEXT NOT NULL,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  total_tokens      INTEGER,
  cost_usd          REAL,
  outcome           TEXT NOT NULL,
  error             TEXT,
  exchanges         TEXT NOT NULL,
  started_at        TEXT NOT NULL,
  ended_at          TEXT NOT NULL,
  UNIQUE (pipeline_id, call_key)
);
CREATE INDEX IF NOT EXISTS audit_by_pipeline ON audit_events (pipeline_id, seq);
CREATE INDEX IF NOT EXISTS transcripts_by_pipeline ON llm_transcripts (pipeline_id, started_at);
CREATE INDEX IF NOT EXISTS transcripts_by_age ON llm_transcripts (ended_at);
`;

export interface RunRef {
  pipelineId: string;
  runKey: string;
}

export interface CheckpointInput extends RunRef {
  key: string;
  phase: string;
  status: string;
  data: unknown;
  ts: string;
}

export interface CheckpointRow {
  id: number;
  pipeline_id: string;
  run_key: string;
  key: string;
  phase: string;
  status: string;
  data: unknown;
  ts: string;
}

export interface AuditRow {
  id: number;
  pipeline_id: string;
  seq: number;
  type: string;
  data: unknown;
  ts: string;
}

/** What one outbox batch writes to the ledger (activities/mirror.ts adds the Redis part). */
export interface LedgerBatch extends RunRef {
  pipeline?: { workflowId: string; settings: PipelineSettings; createdAt: string };
  checkpoints: Omit<CheckpointInput, keyof RunRef>[];
  handoffs: { attempt: number; handoff: Handoff }[];
  result?: { result: PipelineResult; ts: string };
  events: PipelineEvent[];
  calls: CallRecord[];
}

/** One page of a pipeline's transcript: its calls in the order they started. */
export interface TranscriptPage {
  total: number;
  calls: TranscriptRecord[];
  /** Where the next page starts; null after the last call. */
  nextOffset: number | null;
}

/** What `Ledger.prune` removed (or, dry, would remove): the runs, and the rows per table. */
export interface PruneReport {
  runs: RunRef[];
  rows: Record<string, number>;
}

/** The ledger cannot be read: not created yet (no ledger worker has run), or closed. */
export class LedgerUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerUnavailable';
  }
}

/**
 * The ledger's queries, on a read-only connection opened at first use: the API may start before the
 * worker that creates the file, and answers 503 (LedgerUnavailable) until it has.
 */
export class LedgerReader {
  private closed = false;

  constructor(
    readonly path: string,
    private conn?: Database.Database,
  ) {}

  protected get db(): Database.Database {
    if (this.conn) return this.conn;
    if (this.closed) throw new LedgerUnavailable('the ledger is closed');
    try {
      this.conn = new Database(this.path, { readonly: true, fileMustExist: true, timeout: 2000 });
    } catch (err) {
      throw new LedgerUnavailable(`cannot open ${this.path} (${(err as Error).message}); the worker with the ledger role creates it`);
    }
    return this.conn;
  }

  /** A query; a table the writer has not created yet is LedgerUnavailable, not a server error. */
  private read<T>(query: (db: Database.Database) => T): T {
    try {
      return query(this.db);
    } catch (err) {
      const table = /no such table: (\w+)/.exec((err as Error).message)?.[1];
      if (table) throw new LedgerUnavailable(`${this.path} has no ${table} table yet; the worker with the ledger role creates it`);
      throw err;
    }
  }

  /** Throws when the ledger cannot be read (health checks). */
  check(): void {
    this.read((db) => db.prepare('SELECT count(*) FROM pipelines').get());
  }

  /** The settings the pipeline's latest run started with, every default resolved; null before the worker wrote them. */
  pipelineSettings(pipelineId: string): PipelineSettings | null {
    const row = this.read((db) => db.prepare('SELECT settings FROM pipelines WHERE pipeline_id = ? ORDER BY created_at DESC LIMIT 1').get(pipelineId)) as
      { settings: string } | undefined;
    return row ? (JSON.parse(row.settings) as PipelineSettings) : null;
  }

  /** When each of these pipelines last entered REPORT (its phase_changed event), by pipeline id; pipelines with none are left out. */
  reportEnteredAt(pipelineIds: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    // SQLite's default limit on bound parameters is 32766; chunks well under it.
    for (let i = 0; i < pipelineIds.length; i += 500) {
      const chunk = pipelineIds.slice(i, i + 500);
      const rows = this.read((db) =>
        db
          .prepare(
            `SELECT pipeline_id, MAX(ts) AS ts FROM audit_events WHERE type = 'phase_changed' AND json_extract(data, '$.phase') = 'REPORT'
             AND pipeline_id IN (${chunk.map(() => '?').join(', ')}) GROUP BY pipeline_id`,
          )
          .all(...chunk),
      ) as { pipeline_id: string; ts: string }[];
      for (const r of rows) out.set(r.pipeline_id, r.ts);
    }
    return out;
  }

  handoffs(pipelineId: string): (Handoff & { attempt: number; run_key: string })[] {
    const rows = this.read((db) => db.prepare(`SELECT run_key, attempt, data FROM handoffs WHERE pipeline_id = ? ORDER BY ts, agent_id`).all(pipelineId)) as {
      run_key: string;
      attempt: number;
      data: string;
    }[];
    return rows.map((r) => ({ ...(JSON.parse(r.data) as Handoff), attempt: r.attempt, run_key: r.run_key }));
  }

  calls(pipelineId: string): (CallRecord & { run_key: string })[] {
    const rows = this.read((db) => db.prepare(`SELECT * FROM llm_calls WHERE pipeline_id = ? ORDER BY ts, call_key`).all(pipelineId)) as Record<
      string,
      string | number | null
    >[];
    return rows.map((r) => ({
      run_key: String(r.run_key),
      key: String(r.call_key),
      agentId: String(r.agent_id),
      role: r.role as CallRecord['role'],
      task: String(r.task),
      round: Number(r.round),
      attempt: Number(r.attempt),
      model: String(r.model),
      promptTokens: Number(r.prompt_tokens),
      completionTokens: Number(r.completion_tokens),
      totalTokens: Number(r.total_tokens),
      ...(r.cost_usd === null ? {} : { costUsd: Number(r.cost_usd) }),
      at: String(r.ts),
    }));
  }

  /**
   * A pipeline's transcript from `offset`: at most `limit` calls, and past the first call no more than
   * `maxBytes` of stored text, since one answer may be megabytes.
   */
  transcript(pipelineId: string, offset: number, limit: number, maxBytes: number): TranscriptPage {
    return this.read((db) => {
      const { total } = db.prepare('SELECT count(*) AS total FROM llm_transcripts WHERE pipeline_id = ?').get(pipelineId) as { total: number };
      const rows = db
        .prepare(`SELECT * FROM llm_transcripts WHERE pipeline_id = ? ORDER BY started_at, id LIMIT ? OFFSET ?`)
        .iterate(pipelineId, limit, offset) as IterableIterator<Record<string, string | number | null>>;
      const calls: TranscriptRecord[] = [];
      let bytes = 0;
      for (const r of rows) {
        bytes += String(r.exchanges).length;
        if (calls.length > 0 && bytes > maxBytes) break;
        calls.push(transcriptFromRow(r));
      }
      const next = offset + calls.length;
      return { total, calls, nextOffset: next < total ? next : null };
    });
  }

  results(pipelineId: string): { run_key: string; status: string; data: PipelineResult; ts: string }[] {
    const rows = this.read((db) => db.prepare(`SELECT run_key, status, data, ts FROM results WHERE pipeline_id = ? ORDER BY ts`).all(pipelineId)) as {
      run_key: string;
      status: string;
      data: string;
      ts: string;
    }[];
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as PipelineResult }));
  }

  checkpoints(pipelineId: string): CheckpointRow[] {
    const rows = this.read((db) => db.prepare(`SELECT * FROM checkpoints WHERE pipeline_id = ? ORDER BY id`).all(pipelineId)) as (CheckpointRow & {
      data: string;
    })[];
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as unknown }));
  }

  audit(pipelineId: string | undefined, limit = 100): AuditRow[] {
    const rows = this.read((db) =>
      pipelineId
        ? db.prepare(`SELECT id, pipeline_id, seq, type, data, ts FROM audit_events WHERE pipeline_id = ? ORDER BY id DESC LIMIT ?`).all(pipelineId, limit)
        : db.prepare(`SELECT id, pipeline_id, seq, type, data, ts FROM audit_events ORDER BY id DESC LIMIT ?`).all(limit),
    ) as (AuditRow & { data: string })[];
    return rows.reverse().map((r) => ({ ...r, data: JSON.parse(r.data) as unknown }));
  }

  /**
   * The latest run's audit events with seq > `after`, in seq order, as events (the /ws replay's
   * fallback when Redis has lost them: restart without persistence, FLUSHALL, expiry).
   */
  eventsSince(pipelineId: string, after: number): PipelineEvent[] {
    const rows = this.read((db) =>
      db
        .prepare(
          `SELECT seq, type, data, ts FROM audit_events
           WHERE pipeline_id = ? AND run_key = (SELECT run_key FROM pipelines WHERE pipeline_id = ? ORDER BY created_at DESC LIMIT 1) AND seq > ?
           ORDER BY seq`,
        )
        .all(pipelineId, pipelineId, after),
    ) as { seq: number; type: string; data: string; ts: string }[];
    return rows.map((r) => ({ type: r.type, pipeline_id: pipelineId, seq: r.seq, ts: r.ts, data: JSON.parse(r.data) }) as PipelineEvent);
  }

  close(): void {
    this.closed = true;
    this.conn?.close();
    this.conn = undefined;
  }
}

function transcriptFromRow(r: Record<string, string | number | null>): TranscriptRecord {
  const num = (v: string | number | null | undefined) => (v === null || v === undefined ? null : Number(v));
  const promptTokens = num(r.prompt_tokens);
  return {
    key: String(r.call_key),
    pipelineId: String(r.pipeline_id),
    agentId: String(r.agent_id),
    agentRunId: String(r.agent_run_id),
    role: r.role as TranscriptRecord['role'],
    task: String(r.task),
    round: Number(r.round),
    try: Number(r.try),
    attempt: Number(r.attempt),
    repair: r.repair === null ? null : String(r.repair),
    model: String(r.model),
    usage:
      promptTokens === null
        ? null
        : {
            promptTokens,
            completionTokens: Number(r.completion_tokens),
            totalTokens: Number(r.total_tokens),
            ...(r.cost_usd === null ? {} : { costUsd: Number(r.cost_usd) }),
          },
    outcome: String(r.outcome),
    error: r.error === null ? null : String(r.error),
    exchanges: JSON.parse(String(r.exchanges)) as TranscriptRecord['exchanges'],
    startedAt: String(r.started_at),
    endedAt: String(r.ended_at),
  };
}

/** How long the writer's synchronous calls wait for another connection's write lock (SQLite's busy timeout). */
const BUSY_TIMEOUT_MS = 5000;
/** How long writeBatchWhenFree waits for another connection's write lock, on timers, before it fails. */
export const WRITE_LOCK_WAIT_MS = 1000;
const WRITE_LOCK_POLL_MS = 50;

/** SQLite's "another connection holds the lock" (SQLITE_BUSY, SQLITE_LOCKED and their extended codes). */
export function isLockBusy(err: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED)/.test(String((err as { code?: unknown } | null)?.code ?? ''));
}

function openWriter(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  // FULL: a result row the outbox was told is written survives a power cut, not only a process crash.
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);
  return db;
}

/** The one writer: creates the file and its tables, and records every outbox batch. */
export class Ledger extends LedgerReader {
  constructor(path: string) {
    super(path, openWriter(path));
  }

  recordPipeline(ref: RunRef & { workflowId: string; settings: PipelineSettings; createdAt: string }): boolean {
    const s = ref.settings;
    const info = this.db
      .prepare(
        `INSERT INTO pipelines (pipeline_id, run_key, workflow_id, objective, mode, model, scenario, settings, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(ref.pipelineId, ref.runKey, ref.workflowId, s.objective, s.mode, s.model, s.scenario, JSON.stringify(s), ref.createdAt);
    return info.changes === 1;
  }

  recordCheckpoint(c: CheckpointInput): boolean {
    const info = this.db
      .prepare(
        `INSERT INTO checkpoints (pipeline_id, run_key, key, phase, status, data, ts)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(c.pipelineId, c.runKey, c.key, c.phase, c.status, JSON.stringify(c.data), c.ts);
    return info.changes === 1;
  }

  recordResult(ref: RunRef & { result: PipelineResult; ts: string }): boolean {
    const info = this.db
      .prepare(`INSERT INTO results (pipeline_id, run_key, status, data, ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
      .run(ref.pipelineId, ref.runKey, ref.result.status, JSON.stringify(ref.result), ref.ts);
    return info.changes === 1;
  }

  /** A revoked agent's handoff; `attempt` is the orchestration it was revoked in. */
  recordHandoff(ref: RunRef & { attempt: number; handoff: Handoff }): boolean {
    const h = ref.handoff;
    const info = this.db
      .prepare(`INSERT INTO handoffs (pipeline_id, run_key, agent_id, attempt, role, reason, data, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
      .run(ref.pipelineId, ref.runKey, h.agentId, ref.attempt, h.role, h.reason, JSON.stringify(h), h.at);
    return info.changes === 1;
  }

  /** LLM calls' usage (prompt, completion, cost when reported); a call already recorded is skipped. */
  recordCalls(ref: RunRef, calls: CallRecord[]): number {
    const insert = this.db.prepare(
      `INSERT INTO llm_calls (pipeline_id, run_key, call_key, agent_id, role, task, round, attempt, model, prompt_tokens, completion_tokens, total_tokens, cost_usd, ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    return this.db.transaction((list: CallRecord[]) =>
      list.reduce(
        (n, c) =>
          n +
          insert.run(
            ref.pipelineId,
            ref.runKey,
            c.key,
            c.agentId,
            c.role,
            c.task,
            c.round,
            c.attempt,
            c.model,
            c.promptTokens,
            c.completionTokens,
            c.totalTokens,
            c.costUsd ?? null,
            c.at,
          ).changes,
        0,
      ),
    )(calls);
  }

  /** Calls' transcripts (lib/transcripts.ts); one already recorded (by pipeline and call key) is skipped. */
  recordTranscripts(list: TranscriptRecord[]): number {
    const insert = this.db.prepare(
      `INSERT INTO llm_transcripts (pipeline_id, call_key, agent_id, agent_run_id, role, task, round, try, attempt, repair, model,
         prompt_tokens, completion_tokens, total_tokens, cost_usd, outcome, error, exchanges, started_at, ended_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    return this.db.transaction((rows: TranscriptRecord[]) =>
      rows.reduce(
        (n, t) =>
          n +
          insert.run(
            t.pipelineId,
            t.key,
            t.agentId,
            t.agentRunId,
            t.role,
            t.task,
            t.round,
            t.try,
            t.attempt,
            t.repair,
            t.model,
            t.usage?.promptTokens ?? null,
            t.usage?.completionTokens ?? null,
            t.usage?.totalTokens ?? null,
            t.usage?.costUsd ?? null,
            t.outcome,
            t.error,
            JSON.stringify(t.exchanges),
            t.startedAt,
            t.endedAt,
          ).changes,
        0,
      ),
    )(list);
  }

  /** Deletes the transcripts of calls that ended before `before` (ISO time); returns how many. */
  pruneTranscripts(before: string): number {
    return this.db.prepare('DELETE FROM llm_transcripts WHERE ended_at < ?').run(before).changes;
  }

  /**
   * Removes every row of the finished runs whose result is older than `before` (ISO time), in one
   * transaction; a run without a result row (still running, or never finished) is never touched.
   * With `dryRun` it only counts. Returns the runs and the rows per table.
   */
  prune(before: string, dryRun = false): PruneReport {
    const tables = ['pipelines', 'audit_events', 'checkpoints', 'handoffs', 'llm_calls', 'results'] as const;
    const rows: Record<string, number> = Object.fromEntries([...tables, 'llm_transcripts'].map((t) => [t, 0]));
    const run = this.db.transaction((): PruneReport => {
      const runs = this.db.prepare('SELECT pipeline_id, run_key FROM results WHERE ts < ? ORDER BY ts').all(before) as {
        pipeline_id: string;
        run_key: string;
      }[];
      const count = (t: string) => this.db.prepare(`SELECT count(*) AS n FROM ${t} WHERE pipeline_id = ? AND run_key = ?`);
      const del = (t: string) => this.db.prepare(`DELETE FROM ${t} WHERE pipeline_id = ? AND run_key = ?`);
      for (const t of tables) {
        const stmt = dryRun ? count(t) : del(t);
        for (const r of runs) rows[t]! += dryRun ? (stmt.get(r.pipeline_id, r.run_key) as { n: number }).n : stmt.run(r.pipeline_id, r.run_key).changes;
      }
      // Transcripts are kept by pipeline, not run: they go once no run of their pipeline is left.
      const ids = [...new Set(runs.map((r) => r.pipeline_id))];
      const left = this.db.prepare('SELECT count(*) AS n FROM pipelines WHERE pipeline_id = ?');
      const keep = (id: string) => (left.get(id) as { n: number }).n - (dryRun ? runs.filter((r) => r.pipeline_id === id).length : 0) > 0;
      for (const id of ids.filter((i) => !keep(i))) {
        rows.llm_transcripts! += dryRun
          ? (this.db.prepare('SELECT count(*) AS n FROM llm_transcripts WHERE pipeline_id = ?').get(id) as { n: number }).n
          : this.db.prepare('DELETE FROM llm_transcripts WHERE pipeline_id = ?').run(id).changes;
      }
      return { runs: runs.map((r) => ({ pipelineId: r.pipeline_id, runKey: r.run_key })), rows };
    });
    return run();
  }

  /** A pipeline's outbox batch in one transaction (activities/mirror.ts); returns the rows new to the ledger. */
  recordBatch(b: LedgerBatch): number {
    return this.writeBatch(b).rows;
  }

  /** recordBatch, also returning the events new to the ledger: what the worker's metrics count (once, however often a batch is retried). */
  writeBatch(b: LedgerBatch): { rows: number; newEvents: PipelineEvent[] } {
    const ref: RunRef = { pipelineId: b.pipelineId, runKey: b.runKey };
    return this.db.transaction(() => {
      let n = 0;
      if (b.pipeline) n += Number(this.recordPipeline({ ...ref, ...b.pipeline }));
      for (const c of b.checkpoints) n += Number(this.recordCheckpoint({ ...ref, ...c }));
      for (const h of b.handoffs) n += Number(this.recordHandoff({ ...ref, ...h }));
      const newEvents = this.insertAudit(ref, b.events);
      n += newEvents.length;
      if (b.calls.length) n += this.recordCalls(ref, b.calls);
      if (b.result) n += Number(this.recordResult({ ...ref, ...b.result }));
      return { rows: n, newEvents };
    })();
  }

  /**
   * writeBatch for the worker's outbox: while another connection holds the write lock (a backup, a
   * stuck process), it waits on timers, never in SQLite's busy handler. better-sqlite3 is synchronous:
   * a busy wait holds the whole worker process, so with the ledger locked every batch froze it for
   * the busy timeout, one after another, and the pipelines' status queries, workflow tasks and other
   * activities on that worker timed out: the stall the outbox shows in the status could not be read.
   * Fails with SQLite's error (SQLITE_BUSY) after `waitMs`, for the outbox to retry and show the stall.
   */
  async writeBatchWhenFree(b: LedgerBatch, waitMs = WRITE_LOCK_WAIT_MS): Promise<{ rows: number; newEvents: PipelineEvent[] }> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      this.db.pragma('busy_timeout = 0');
      try {
        return this.writeBatch(b);
      } catch (err) {
        if (!isLockBusy(err) || Date.now() >= deadline) throw err;
      } finally {
        this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      }
      await new Promise((resolve) => setTimeout(resolve, WRITE_LOCK_POLL_MS));
    }
  }

  /** Appends audit events in one transaction; events already there (by seq) are skipped. */
  recordAudit(ref: RunRef, events: PipelineEvent[]): number {
    return this.insertAudit(ref, events).length;
  }

  /**
   * Where the phase current at event `seq` began: the latest phase_changed (or, for SPAWN, the
   * pipeline_spawned) event before it. What a phase's duration is measured from.
   */
  phaseStartBefore(ref: RunRef, seq: number): { phase: string; ts: string } | undefined {
    const row = this.db
      .prepare(
        `SELECT type, data, ts FROM audit_events WHERE pipeline_id = ? AND run_key = ? AND seq < ? AND type IN ('phase_changed', 'pipeline_spawned')
         ORDER BY seq DESC LIMIT 1`,
      )
      .get(ref.pipelineId, ref.runKey, seq) as { type: string; data: string; ts: string } | undefined;
    if (!row) return undefined;
    const phase = row.type === 'pipeline_spawned' ? 'SPAWN' : String((JSON.parse(row.data) as { phase?: unknown }).phase);
    return { phase, ts: row.ts };
  }

  private insertAudit(ref: RunRef, events: PipelineEvent[]): PipelineEvent[] {
    const insert = this.db.prepare(`INSERT INTO audit_events (pipeline_id, run_key, seq, type, data, ts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
    const tx = this.db.transaction((list: PipelineEvent[]) =>
      list.filter((e) => insert.run(ref.pipelineId, ref.runKey, e.seq, e.type, JSON.stringify(e.data), e.ts).changes > 0),
    );
    return tx(events);
  }
}
