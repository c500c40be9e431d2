import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ledgerTaskQueue, llmTaskQueue, PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId } from '../common/ids';
import { statusQuery } from '../common/messages';
import type { PipelineInput, PipelineResult } from '../common/types';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';
import { startTs, waitFor, type Managed } from '../devstack/processes';
import { eventsSince } from '../lib/events';
import { LedgerReader } from '../lib/ledger';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import type { Redis } from 'ioredis';
import type { pipelineWorkflow } from '../workflows/pipeline';
import { uniqueId } from './helpers/harness';
import { testLogStream } from './helpers/logs';
import { byIdentity, show, tallyWork } from './helpers/workerIdentities';

// Scale-out as README's topology has it: three `npm run worker` processes with the pipeline and llm
// roles (stateless, any number) and one with the ledger role (the one SQLite writer), on one dev
// server and one task queue. Each worker is named (WORKER_IDENTITY), so the histories say who ran
// what. 30 pipelines, some in openrouter mode through the fake provider so the llm queue has work
// too. Asserted: every pipeline completes; each of the three workers started workflow tasks and
// activities (spread, not balance: a loaded machine decides the shares); only the ledger worker wrote
// the ledger; and the ledger holds one result row per pipeline and its events 1..N, gapless.

const PIPELINES = 30;
/** Every this-many-th pipeline calls the fake provider (openrouter mode), so the `-llm` queue has work. */
const OPENROUTER_EVERY = 5;
const WORKERS = ['scale-worker-1', 'scale-worker-2', 'scale-worker-3'];
const LEDGER_WORKER = 'scale-ledger';
const KEY = 'sk-or-test-scaleout-5e1f0a7c';
const { PendingActivityState, TaskQueueType } = proto.temporal.api.enums.v1;

let client: Client;
let redis: Redis;
let fake: FakeLlm;
let dir: string;
let taskQueue: string;
let ledgerPath: string;
let env: NodeJS.ProcessEnv;
let ledgerWorker: Managed;
const procs: Managed[] = [];
/** Processes stopped on purpose: their exit is no failure. */
const stopping = new WeakSet<Managed>();
/** Rejects as soon as a worker exits unasked: a worker that died is the failure, not the timeout after it. */
let died: Promise<never>;
let dieWith: (err: Error) => void;

function startWorker(identity: string, roles: string): Managed {
  const m = startTs(identity, 'workers/main.ts', { ...env, WORKER_ROLES: roles, WORKER_IDENTITY: identity }, testLogStream());
  m.child.once('exit', (code, signal) => {
    if (!stopping.has(m)) dieWith(new Error(`${m.name} exited (code ${code}, signal ${signal}): ${m.lastStderr().trim().slice(-500)}`));
  });
  procs.push(m);
  return m;
}

/** The identities polling `queue` for tasks of `type` (the server forgets a poller a while after its last poll). */
async function pollers(queue: string, type: proto.temporal.api.enums.v1.TaskQueueType): Promise<Set<string>> {
  const res = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue }, taskQueueType: type });
  return new Set((res.pollers ?? []).map((p) => p.identity ?? ''));
}

before(async () => {
  client = await connectClient(process.env.TEMPORAL_ADDRESS ?? 'localhost:7233', 'default');
  redis = await connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  fake = await startFakeLlm({ apiKey: KEY });
  dir = mkdtempSync(join(tmpdir(), 'ag-scaleout-'));
  taskQueue = uniqueId('scaleout');
  ledgerPath = join(dir, 'ledger.db');
  env = {
    ...process.env,
    TEMPORAL_TASK_QUEUE: taskQueue,
    LEDGER_PATH: ledgerPath,
    LLM_MODE: 'local',
    OPENROUTER_API_KEY: KEY,
    OPENROUTER_BASE_URL: fake.url,
    // A failure of the fake provider is not what this test is about: the breaker stays closed.
    BREAKER_FAILURES: '1000',
  };
  died = new Promise<never>((_, reject) => (dieWith = reject));
  died.catch(() => undefined);
  ledgerWorker = startWorker(LEDGER_WORKER, 'ledger');
  for (const identity of WORKERS) startWorker(identity, 'pipeline,llm');
  // Every worker polls before the first pipeline starts, so none can take all the first tasks.
  await Promise.race([
    died,
    waitFor(
      'every worker polling its task queues',
      async () => {
        const [wf, llm, led] = await Promise.all([
          pollers(taskQueue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
          pollers(llmTaskQueue(taskQueue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
          pollers(ledgerTaskQueue(taskQueue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
        ]);
        return WORKERS.every((w) => wf.has(w) && llm.has(w)) && led.has(LEDGER_WORKER) && !wf.has(LEDGER_WORKER) && led.size === 1;
      },
      180_000,
    ),
  ]);
});
after(async () => {
  procs.forEach((p) => stopping.add(p));
  await Promise.all(procs.map((p) => p.stop()));
  await fake?.close();
  redis?.disconnect();
  await client?.connection.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const modeOf = (i: number) => (i % OPENROUTER_EVERY === OPENROUTER_EVERY - 1 ? 'openrouter' : 'local');

function startPipelines(prefix: string, n: number, mode: (i: number) => string = modeOf) {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      client.workflow.start<typeof pipelineWorkflow>(PIPELINE_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: pipelineWorkflowId(`${prefix}${i + 1}`),
        args: [{ objective: `Design a caching strategy (${i + 1})`, mode: mode(i), scenario: 'consensus', latencyMs: 20 } as PipelineInput],
      }),
    ),
  );
}

/**
 * The ledger queue's approximate backlog, over all worker versions: DescribeTaskQueue with report_stats.
 * Not `temporal task-queue describe` (CLI 1.5.1): it reports the unversioned queue only, and with
 * Worker Versioning the batches wait in the version's queue (README: Operations, Worker Versioning).
 */
async function ledgerBacklog(): Promise<number> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: 'default',
    taskQueue: { name: ledgerTaskQueue(taskQueue) },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  return Number(r.stats?.approximateBacklogCount ?? 0);
}

/** Each pipeline has exactly one result row, COMPLETED, and its audit events are 1..N, as Redis published them. */
async function checkLedger(ids: string[]): Promise<void> {
  const db = new Database(ledgerPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT pipeline_id, count(*) AS n, min(status) AS status FROM results WHERE pipeline_id IN (${ids.map(() => '?').join(',')}) GROUP BY pipeline_id`,
      )
      .all(...ids) as { pipeline_id: string; n: number; status: string }[];
    assert.deepEqual(rows.map((r) => r.pipeline_id).sort(), [...ids].sort(), 'a result row for each pipeline');
    assert.ok(
      rows.every((r) => r.n === 1 && r.status === 'COMPLETED'),
      'exactly one result row per pipeline',
    );
  } finally {
    db.close();
  }
  const reader = new LedgerReader(ledgerPath);
  try {
    for (const id of ids) {
      const seqs = reader.audit(id, 100_000).map((e) => e.seq);
      assert.ok(seqs.length > 0, `${id}: events in the ledger`);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, k) => k + 1),
        `${id}: events 1..N, each once`,
      );
      const published = await eventsSince(redis, id, 0);
      assert.equal(seqs.length, published.length, `${id}: the ledger has every event Redis published`);
    }
  } finally {
    reader.close();
  }
}

describe('scale-out: three pipeline/llm workers and one ledger writer', () => {
  test('30 pipelines complete, their work spread over the three workers, one result row each in the ledger', { timeout: 900_000 }, async (t) => {
    const prefix = `${taskQueue}-p`;
    const ids = Array.from({ length: PIPELINES }, (_, i) => `${prefix}${i + 1}`);
    const handles = await startPipelines(prefix, PIPELINES);
    const results: PipelineResult[] = await Promise.race([died, Promise.all(handles.map((h) => h.result()))]);
    assert.deepEqual(
      results.map((r) => r.status),
      Array<string>(PIPELINES).fill('COMPLETED'),
      'every pipeline completed',
    );
    assert.ok(fake.completions().length > 0, 'the openrouter pipelines called the provider');

    // Who did what, from the histories of the pipelines and their agents.
    const tally = await tallyWork(
      client,
      handles.map((h) => h.workflowId),
    );
    const workflowTasks = tally.workflowTasks;
    const activities = byIdentity(tally.activities, ['mirror']);
    const providerCalls = tally.queues.get(llmTaskQueue(taskQueue)) ?? new Map<string, number>();
    const mirror = tally.activities.get('mirror') ?? new Map<string, number>();
    t.diagnostic(`${tally.workflows} workflows; workflow tasks ${show(workflowTasks)}`);
    t.diagnostic(`activities (ledger writes apart) ${show(activities)}; provider calls ${show(providerCalls)}; ledger writes ${show(mirror)}`);
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    for (const w of WORKERS) {
      assert.ok((workflowTasks.get(w) ?? 0) > 0, `${w} started workflow tasks (${show(workflowTasks)})`);
      assert.ok((activities.get(w) ?? 0) > 0, `${w} started activities (${show(activities)})`);
    }
    assert.deepEqual(new Set(workflowTasks.keys()), new Set(WORKERS), `only the pipeline workers ran workflow tasks (${show(workflowTasks)})`);
    assert.ok(Math.max(...workflowTasks.values()) < total(workflowTasks), 'no one worker ran every workflow task');
    assert.ok(providerCalls.size >= 2, `provider calls went to more than one llm worker (${show(providerCalls)})`);
    assert.deepEqual([...mirror.keys()], [LEDGER_WORKER], `only the ledger worker wrote the ledger (${show(mirror)})`);
    assert.ok(total(mirror) >= PIPELINES, 'every pipeline wrote its outbox');

    // The ledger: one result row per pipeline, events 1..N; the openrouter ones' provider calls recorded.
    const db = new Database(ledgerPath, { readonly: true, fileMustExist: true });
    try {
      const n = (db.prepare('SELECT count(*) AS n FROM results').get() as { n: number }).n;
      assert.equal(n, PIPELINES, 'the ledger has no other result row');
    } finally {
      db.close();
    }
    await checkLedger(ids);
    const reader = new LedgerReader(ledgerPath);
    try {
      for (const [i, id] of ids.entries())
        if (modeOf(i) === 'openrouter') assert.ok(reader.calls(id).length > 0, `${id}: its provider calls' usage is in the ledger`);
    } finally {
      reader.close();
    }
  });

  test('with the ledger writer down, pipelines wait at their end; once it is back they finish, nothing lost', { timeout: 600_000 }, async () => {
    stopping.add(ledgerWorker);
    await ledgerWorker.stop();
    const prefix = `${taskQueue}-down-`;
    const ids = Array.from({ length: 3 }, (_, i) => `${prefix}${i + 1}`);
    const handles = await startPipelines(prefix, ids.length, () => 'local');
    // Their work goes on without the ledger (the outbox is beside the critical path)...
    await Promise.race([
      died,
      waitFor(
        'the pipelines at COMPLETE',
        async () => (await Promise.all(handles.map((h) => h.query(statusQuery)))).every((v) => v.phase === 'COMPLETE'),
        300_000,
      ),
    ]);
    // ...and they wait there, their outbox batch scheduled on the ledger queue, not failed, not dropped.
    for (const h of handles) {
      const d = await h.describe();
      assert.equal(d.status.name, 'RUNNING', `${h.workflowId} waits for its record to be written`);
      const pending = (d.raw.pendingActivities ?? []).map((a) => ({ type: a.activityType?.name, state: a.state, attempt: a.attempt }));
      assert.deepEqual(
        pending,
        [{ type: 'mirror', state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, attempt: 1 }],
        `${h.workflowId}: its outbox batch waits, not failed, for the ledger writer`,
      );
    }
    const db = new Database(ledgerPath, { readonly: true, fileMustExist: true });
    try {
      const n = db.prepare(`SELECT count(*) AS n FROM results WHERE pipeline_id LIKE ?`).get(`${prefix}%`) as { n: number };
      assert.equal(n.n, 0, 'no result row while the writer is down');
    } finally {
      db.close();
    }

    // What an operator sees (README, Scale-out): the batches as a backlog on the ledger queue.
    await waitFor('a backlog on the ledger queue (DescribeTaskQueue stats)', async () => (await ledgerBacklog()) >= 1, 60_000);
    ledgerWorker = startWorker(LEDGER_WORKER, 'ledger');
    const results: PipelineResult[] = await Promise.race([died, Promise.all(handles.map((h) => h.result()))]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['COMPLETED', 'COMPLETED', 'COMPLETED'],
    );
    await checkLedger(ids);
  });
});
