import Database from 'better-sqlite3';
import { closeSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkEvents, endStatuses, http, sleep, spawn, status, until } from './observe';
import type { CaseRecorder } from './report';
import type { ChaosStack } from './stack';

// R8: the ledger stops taking writes mid-run, then is fixed, twice. First another process holds the
// SQLite file's write lock (BEGIN EXCLUSIVE), as a backup tool or a stuck writer would: every write of
// the worker gets SQLITE_BUSY. Then the disk fills: the ledger is on a small tmpfs of its own
// (chaos/stack.ts), and a file takes all its free space: every write that needs room gets
// SQLITE_FULL. (chmod 0444 would not do: the worker's connection is already open for writing, and
// root ignores modes.) The stall must be visible while it lasts, in the pipeline's status (an
// `outbox` field), and once fixed every pipeline finishes with exactly one result row.

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
  await stallAndFix(stack, rec, opts.pipelines, 'locked', opts.lockMs, () => {
    const lock = new Database(stack.ledgerPath, { timeout: 10_000 });
    lock.exec('BEGIN EXCLUSIVE');
    return () => {
      lock.exec('ROLLBACK');
      lock.close();
    };
  });
  if (!stack.ledgerFs) {
    rec.check('the disk full: the stall visible, all finish once there is room', 'not run: mounting a tmpfs for the ledger needs root', false);
    return;
  }
  const fs = stack.ledgerFs;
  await stallAndFix(stack, rec, opts.pipelines, 'full', opts.lockMs, () => {
    // A WAL the writer can reuse would take a few more batches without new room: start from an empty one.
    const db = new Database(stack.ledgerPath, { timeout: 10_000 });
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const filler = join(fs, 'filler');
    fillUp(filler);
    const { bavail, bsize } = statfsSync(fs);
    stack.log(`R8: ${bavail * bsize} bytes left on the ledger's filesystem`);
    return () => rmSync(filler, { force: true });
  });
}

/** Writes `path` until its filesystem has no room left (the writer takes room meanwhile: no fixed size). */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 4096, 512]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Spawns `n` pipelines, breaks the ledger (`how`) once they run, shows the stall, fixes it after `ms`, checks the ends. */
async function stallAndFix(stack: ChaosStack, rec: CaseRecorder, n: number, how: 'locked' | 'full', ms: number, breakLedger: () => () => void): Promise<void> {
  const ids = await Promise.all(Array.from({ length: n }, () => spawn(stack, RUN, 'r8')));
  await until(async () => (await Promise.all(ids.map((id) => status(stack, id)))).every((s) => s && s.status !== 'SPAWNING'), 30_000);

  const fix = breakLedger();
  const brokenAt = Date.now();
  stack.log(`R8: the ledger is ${how} for ${ms / 1000}s`);
  const seen = new Set<string>();
  const errors = new Set<string>();
  try {
    while (Date.now() - brokenAt < ms) {
      for (const id of ids) {
        const view = await status(stack, id);
        const q = outboxStall(view);
        if (q) seen.add(`status query ${q}`);
        const lastError = (view as { outbox?: { lastError?: unknown } } | undefined)?.outbox?.lastError;
        if (typeof lastError === 'string' && lastError) errors.add(lastError.slice(0, 80));
        const api = await http(stack, 'GET', `/api/pipeline/${id}`);
        const a = outboxStall(api.body);
        if (a) seen.add(`GET /api/pipeline/:id ${a}`);
      }
      await sleep(500);
    }
  } finally {
    fix();
  }
  rec.check(
    `the stall is visible while the ledger is ${how}`,
    seen.size ? `${[...seen].slice(0, 2).join(', ')}; lastError: ${[...errors].slice(0, 2).join(' | ') || 'none'}` : 'nowhere (no outbox field says so)',
    seen.size > 0 && [...errors].some((e) => (how === 'full' ? /full/i : /locked|busy/i).test(e)),
  );
  const fixedAt = Date.now();
  const ends = await endStatuses(stack, ids, 180_000);
  const done = ids.filter((id) => ends.get(id) === 'COMPLETED');
  rec.check(
    `pipelines COMPLETED once the ledger is no longer ${how}`,
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
  rec.check(`${how}: pipelines with exactly one result row`, `${one}/${ids.length}`, one === ids.length);
  rec.check(`${how}: pipelines with ledger events 1..N, none twice`, `${gapless}/${ids.length}`, gapless === ids.length);
}
