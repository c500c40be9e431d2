import { checkEvents, endStatuses, gapless, openLedger, sleep, spawn, status, until, wsSeqs } from './observe';
import type { CaseRecorder } from './report';
import type { ChaosStack } from './stack';
import { summary } from './workerKills';

// R2 and R3: the servers under the pipelines go away mid-run. R2 kills the Temporal dev server and
// starts it again on the same database file; R3 restarts Redis (which keeps nothing on disk, so its
// data is gone, as on a restart without persistence) and, separately, FLUSHALLs it. The pipelines
// must finish, and R3's /ws must still replay every seq once, from 0 and from a resume point.

const RUN = { mode: 'local', auto_continue: true, scenario: 'consensus', latency_ms: 500 };

async function spawnAndWaitRunning(stack: ChaosStack, n: number, prefix: string): Promise<string[]> {
  const ids = await Promise.all(Array.from({ length: n }, () => spawn(stack, RUN, prefix)));
  await until(async () => (await Promise.all(ids.map((id) => status(stack, id)))).every((s) => s && s.status !== 'SPAWNING'), 30_000);
  return ids;
}

async function allEnd(stack: ChaosStack, rec: CaseRecorder, ids: string[], label: string, since: number): Promise<void> {
  const ends = await endStatuses(stack, ids, 180_000);
  const done = ids.filter((id) => ends.get(id) === 'COMPLETED');
  const others = ids.filter((id) => !done.includes(id)).map((id) => `${id}: ${ends.get(id)}`);
  rec.check(
    `${label}: pipelines COMPLETED`,
    `${done.length}/${ids.length} in ${Math.round((Date.now() - since) / 1000)}s${others.length ? ` (${others.slice(0, 2).join('; ')})` : ''}`,
    others.length === 0,
  );
}

export async function temporalRestart(stack: ChaosStack, rec: CaseRecorder, opts: { pipelines: number }): Promise<void> {
  const ids = await spawnAndWaitRunning(stack, opts.pipelines, 'r2');
  await sleep(1000);
  const at = Date.now();
  await stack.restartTemporal(2000);
  stack.log(`R2: the dev server was down ${Math.round((Date.now() - at) / 100) / 10}s (SIGKILL, then started on the same database file)`);
  await allEnd(stack, rec, ids, 'after a Temporal restart', at);
  let gaps = 0;
  for (const id of ids) {
    const c = await checkEvents(stack, id);
    if (!c.ledgerGapless || c.resultRows !== 1 || c.duplicateRows) gaps++;
  }
  rec.check('pipelines with ledger events 1..N and one result row', `${ids.length - gaps}/${ids.length}`, gaps === 0);
}

export async function redisLoss(stack: ChaosStack, rec: CaseRecorder, opts: { pipelines: number }): Promise<void> {
  // A restart: redis-server keeps nothing on disk here, so everything it held is gone.
  const restarted = await spawnAndWaitRunning(stack, opts.pipelines, 'r3-restart');
  await sleep(1500);
  let at = Date.now();
  await stack.restartRedis(1500);
  stack.log('R3: redis-server restarted (its data lost)');
  await allEnd(stack, rec, restarted, 'after a Redis restart', at);

  const flushed = await spawnAndWaitRunning(stack, opts.pipelines, 'r3-flush');
  await sleep(1500);
  at = Date.now();
  await stack.redis.flushall();
  stack.log('R3: FLUSHALL');
  await allEnd(stack, rec, flushed, 'after FLUSHALL', at);

  // What /ws replays: every seq once, 1..N, where N is the last seq the ledger recorded.
  const bad: string[] = [];
  const resumeBad: string[] = [];
  for (const id of [...restarted, ...flushed]) {
    const db = openLedger(stack);
    const last = (db.prepare('SELECT max(seq) AS n FROM audit_events WHERE pipeline_id = ?').get(id) as { n: number | null }).n ?? 0;
    db.close();
    const all = await wsSeqs(stack, id, 0);
    if (typeof all === 'string' || !gapless(all) || all.length !== last) bad.push(`${id}: ${typeof all === 'string' ? all : summary(all)} of 1..${last}`);
    const from = Math.floor(last / 2);
    const resumed = await wsSeqs(stack, id, from);
    const want = Array.from({ length: last - from }, (_, i) => from + 1 + i);
    if (typeof resumed === 'string' || resumed.join() !== want.join())
      resumeBad.push(`${id}: ${typeof resumed === 'string' ? resumed : summary(resumed)} of ${from + 1}..${last}`);
  }
  const n = restarted.length + flushed.length;
  rec.check('/ws?since=0 replays 1..N once', `${n - bad.length}/${n}${bad.length ? ` (${bad.slice(0, 2).join('; ')})` : ''}`, bad.length === 0);
  rec.check(
    '/ws resumed with since=N/2 gets the rest once',
    `${n - resumeBad.length}/${n}${resumeBad.length ? ` (${resumeBad.slice(0, 1).join('; ')})` : ''}`,
    resumeBad.length === 0,
  );
}
