import { WorkflowFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';
import Database from 'better-sqlite3';
import { WebSocket } from 'ws';
import { pipelineWorkflowId } from '../common/ids';
import { statusQuery } from '../common/messages';
import type { PipelineEvent, StatusView } from '../common/types';
import { eventsSince } from '../lib/events';
import { CHAOS_TOKEN, TASK_QUEUE, type ChaosStack } from './stack';

// What the chaos cases look at: only what a user can see. HTTP answers of the API, the statuses the
// pipelines end with, the events in Redis and over /ws, the rows of the ledger file, the histories.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const ENDED = ['COMPLETED', 'FAILED', 'TIMEOUT', 'ORCHESTRATION_FAILED', 'ORCHESTRATION_ERROR', 'STOPPED'];

export interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** One HTTP call to the chaos API; network errors are status 0 (the API is down), never thrown. */
export async function http(
  stack: ChaosStack,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? CHAOS_TOKEN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined = opts.raw;
  if (opts.body !== undefined) payload = JSON.stringify(opts.body);
  // fetch() cannot send a body with GET or HEAD.
  if (method === 'GET' || method === 'HEAD') payload = undefined;
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`${stack.apiUrl}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body, text };
  } catch (err) {
    // fetch's own message is "fetch failed"; the cause says what happened on the wire.
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return { status: 0, body: null, text: `${(err as Error).message}${cause ? `: ${cause.code ?? cause.message}` : ''}` };
  }
}

let counter = 0;
export const chaosId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

/** POST /api/spawn, retried while the API or Temporal is briefly away; returns the pipeline id. */
export async function spawn(stack: ChaosStack, body: Record<string, unknown>, prefix = 'chaos'): Promise<string> {
  const pipelineId = (body.pipeline_id as string | undefined) ?? chaosId(prefix);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await http(stack, 'POST', '/api/spawn', { body: { objective: 'Design a caching strategy', ...body, pipeline_id: pipelineId } });
    if (r.status === 201) return pipelineId;
    if (Date.now() > deadline || (r.status >= 400 && r.status < 500 && r.status !== 429)) {
      throw new Error(`spawn ${pipelineId}: ${r.status} ${r.text.slice(0, 300)}`);
    }
    await sleep(500);
  }
}

/** The status query, or undefined when nobody answers (a worker down, Temporal restarting). */
export async function status(stack: ChaosStack, pipelineId: string): Promise<StatusView | undefined> {
  return stack.client.workflow
    .getHandle(pipelineWorkflowId(pipelineId))
    .query(statusQuery)
    .catch(() => undefined);
}

/** The status the pipeline ended with, or `NOT_ENDED (<last status>)` after timeoutMs. */
export async function endStatus(stack: ChaosStack, pipelineId: string, timeoutMs: number): Promise<string> {
  const handle = stack.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const desc = await handle.describe().catch(() => undefined);
    if (desc && desc.status.name !== 'RUNNING') {
      const result = await handle.result().then(
        (r) => r.status as string,
        (err: unknown) => (err instanceof WorkflowFailedError ? undefined : `CLOSED_${desc.status.name}`),
      );
      if (result) return result;
      // A failed workflow (both agents revoked): its status query says how it ended.
      return (await status(stack, pipelineId))?.status ?? `CLOSED_${desc.status.name}`;
    }
    await sleep(500);
  }
  return `NOT_ENDED (${(await status(stack, pipelineId))?.status ?? 'no answer'})`;
}

export async function endStatuses(stack: ChaosStack, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await Promise.all(ids.map(async (id) => out.set(id, await endStatus(stack, id, timeoutMs))));
  return out;
}

/** 1..n with nothing missing or repeated. */
export const gapless = (seqs: number[]): boolean => seqs.length > 0 && seqs.every((s, i) => s === i + 1);

export function openLedger(stack: ChaosStack): Database.Database {
  return new Database(stack.ledgerPath, { readonly: true, fileMustExist: true, timeout: 5000 });
}

export interface EventCheck {
  redisSeqs: number[];
  ledgerSeqs: number[];
  /** The pipeline's events in Redis are 1..N ending with pipeline_finished. */
  redisGapless: boolean;
  /** The ledger's audit events are 1..N, each once. */
  ledgerGapless: boolean;
  /** Ledger rows that say the same thing twice: audit seqs, checkpoints, results, calls. */
  duplicateRows: number;
  resultRows: number;
}

export async function checkEvents(stack: ChaosStack, pipelineId: string): Promise<EventCheck> {
  const events = await eventsSince(stack.redis, pipelineId, 0).catch(() => [] as PipelineEvent[]);
  const redisSeqs = events.map((e) => e.seq);
  const db = openLedger(stack);
  try {
    const ledgerSeqs = (db.prepare('SELECT seq FROM audit_events WHERE pipeline_id = ? ORDER BY seq').all(pipelineId) as { seq: number }[]).map((r) => r.seq);
    const dup = (sql: string) => (db.prepare(sql).get(pipelineId) as { n: number }).n;
    const duplicateRows =
      dup('SELECT count(*) - count(DISTINCT seq) AS n FROM audit_events WHERE pipeline_id = ?') +
      dup('SELECT count(*) - count(DISTINCT key) AS n FROM checkpoints WHERE pipeline_id = ?') +
      dup('SELECT count(*) - count(DISTINCT call_key) AS n FROM llm_calls WHERE pipeline_id = ?') +
      Math.max(0, dup('SELECT count(*) AS n FROM results WHERE pipeline_id = ?') - 1);
    const resultRows = dup('SELECT count(*) AS n FROM results WHERE pipeline_id = ?');
    return {
      redisSeqs,
      ledgerSeqs,
      redisGapless: gapless(redisSeqs) && events.at(-1)?.type === 'pipeline_finished',
      ledgerGapless: gapless(ledgerSeqs) && ledgerSeqs.length >= redisSeqs.length,
      duplicateRows,
      resultRows,
    };
  } finally {
    db.close();
  }
}

/** The seqs /ws sends for a pipeline from `since`, until pipeline_finished or `idleMs` without a message. */
export async function wsSeqs(stack: ChaosStack, pipelineId: string, since: number, idleMs = 3000): Promise<number[] | string> {
  const url = `${stack.apiUrl.replace(/^http/, 'ws')}/ws?pipeline_id=${encodeURIComponent(pipelineId)}&since=${since}&partials=false`;
  const ws = new WebSocket(url, ['agent-governance', `bearer.${Buffer.from(CHAOS_TOKEN).toString('base64url')}`]);
  const seqs: number[] = [];
  return new Promise((resolve) => {
    let timer = setTimeout(() => done(), idleMs * 3);
    const done = (why?: string) => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve(why ?? seqs);
    };
    ws.on('unexpected-response', (_req, res) => done(`upgrade refused: ${res.statusCode}`));
    ws.on('error', (err) => done(`ws error: ${err.message}`));
    ws.on('message', (data) => {
      const e = JSON.parse(String(data)) as Partial<PipelineEvent>;
      if (typeof e.seq !== 'number') return;
      seqs.push(e.seq);
      clearTimeout(timer);
      if (e.type === 'pipeline_finished') return done();
      timer = setTimeout(() => done(), idleMs);
    });
  });
}

/** A workflow's history: its events' types, and its protobuf bytes (to search for secrets). */
export async function history(stack: ChaosStack, workflowId: string): Promise<{ types: string[]; bytes: Buffer }> {
  const h = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const types = (h.events ?? []).map((e) => proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType));
  return { types, bytes: Buffer.from(proto.temporal.api.history.v1.History.encode(h).finish()) };
}

/** Every workflow id the chaos run started, children included. */
export async function allWorkflowIds(stack: ChaosStack): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: `TaskQueue = '${TASK_QUEUE}'` })) ids.push(wf.workflowId);
  return [...new Set(ids)];
}

/** Polls `check` until it holds (true) or timeoutMs passes (false). */
export async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 300): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Runs `fn` over `items`, `n` at a time. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}
