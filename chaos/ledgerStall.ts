import Database from 'better-sqlite3';
import { checkEvents, endStatuses, http, sleep, spawn, status, until } from './observe';
import type { CaseRecorder } from './report';
import type { ChaosStack } from './stack';

// R8: the ledger stops taking writes mid-run, then is fixed. Another process holds the SQLite file's
// write lock (BEGIN EXCLUSIVE), as a backup tool or a stuck writer would: every write of the worker
// gets SQLITE_BUSY. (chmod 0444 would not do: the worker's connection is already open for writing.)
// The stall must be visible while it lasts, in the pipeline's status (an `outbox` field), and once
// the lock is gone every pipeline finishes with exactly one result row.

const RUN = { mode: 'local', auto_continue: true, scenario: 'consensus', latency_ms: 300 };

/** What an `outbox` field of the status says about a stall, whatever words the status uses for it. */
export function outboxStall(view: unknown): string | undefined {
  const o = (view as { outbox?: unknown } | undefined)?.outbox;
  if (!o || typeof o !== 'object') return undefined;
  const x = o as Record<string, unknown>;
  if (x.stalled === true) return 'outbox.stalled';
  for (const k of ['state', 'status']) {
    const v = x[k];
    if (typeof v === 'string' && !/^(ok|idle|drained|empty|healthy|flowing|running|done|clear)$/i.test(v)) return `outbox.${k}=${v}`;
  }
  for (const k of ['retries', 'attempts', 'failures', 'failedAttempts']) if (typeof x[k] === 'number' && (x[k] as number) > 0) return `outbox.${k}=${x[k]}`;
  for (const k of ['lastError', 'error', 'reason']) if (typeof x[k] === 'string' && x[k]) return `outbox.${k}`;
  return undefined;
}

export async function ledgerStall(stack: ChaosStack, rec: CaseRecorder, opts: { pipelines: number; lockMs: number }): Promise<void> {
  const ids = await Promise.all(Array.from({ length: opts.pipelines }, () => spawn(stack, RUN, 'r8')));
  await until(async () => (await Promise.all(ids.map((id) => status(stack, id)))).every((s) => s && s.status !== 'SPAWNING'), 30_000);

  const lock = new Database(stack.ledgerPath, { timeout: 10_000 });
  lock.exec('BEGIN EXCLUSIVE');
  const lockedAt = Date.now();
  stack.log(`R8: the ledger is locked for ${opts.lockMs / 1000}s`);
  const seen = new Set<string>();
  try {
    while (Date.now() - lockedAt < opts.lockMs) {
      for (const id of ids) {
        const q = outboxStall(await status(stack, id));
        if (q) seen.add(`status query ${q}`);
        const api = await http(stack, 'GET', `/api/pipeline/${id}`);
        const a = outboxStall(api.body);
        if (a) seen.add(`GET /api/pipeline/:id ${a}`);
      }
      await sleep(500);
    }
  } finally {
    lock.exec('ROLLBACK');
    lock.close();
  }
  rec.check(
    'the stall is visible while the ledger is locked',
    seen.size ? [...seen].slice(0, 2).join(', ') : 'nowhere (no outbox field says so)',
    seen.size > 0,
  );
  const fixedAt = Date.now();
  const ends = await endStatuses(stack, ids, 180_000);
  const done = ids.filter((id) => ends.get(id) === 'COMPLETED');
  rec.check(
    'pipelines COMPLETED once the lock is gone',
    `${done.length}/${ids.length} in ${Math.round((Date.now() - fixedAt) / 1000)}s after`,
    done.length === ids.length,
  );
  let one = 0;
  let gapless = 0;
  for (const id of ids) {
    const c = await checkEvents(stack, id);
    if (c.resultRows === 1) one++;
    if (c.ledgerGapless && c.duplicateRows === 0) gapless++;
  }
  rec.check('pipelines with exactly one result row', `${one}/${ids.length}`, one === ids.length);
  rec.check('pipelines with ledger events 1..N, none twice', `${gapless}/${ids.length}`, gapless === ids.length);
}
