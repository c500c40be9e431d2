import { type Client, type WorkflowHandle } from '@temporalio/client';
import { type Worker, type WorkerOptions } from '@temporalio/worker';
import type { Redis } from 'ioredis';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseWorkflowId, pipelineWorkflowId } from '../../common/ids';
import { statusQuery } from '../../common/messages';
import type { PipelineEvent, PipelineInput, PipelineStatusName } from '../../common/types';
import { parseConfig, type Config } from '../../lib/config';
import { eventsSince } from '../../lib/events';
import { Ledger } from '../../lib/ledger';
import { connectRedis } from '../../lib/redis';
import { connectClient } from '../../lib/temporal';
import { runCli } from '../../devstack/temporalServer';
import { connectNative, createWorkers, type WorkerRole } from '../../workers/create';
import { deploymentVersion, promoteVersion, versionKey } from '../../workers/versioning';
import type { pipelineWorkflow } from '../../workflows/pipeline';
import { CURRENT_RELEASE, mayRecord, releaseDir } from '../../devstack/histories';
import { routeSdkLogs } from './logs';

// A real worker against the test run's dev server, Redis and a temporary SQLite ledger, on a task
// queue of its own, so test files do not see each other's work.

export interface Harness {
  client: Client;
  redis: Redis;
  ledger: Ledger;
  config: Config;
  taskQueue: string;
  start(input: Partial<PipelineInput>, pipelineId?: string): Promise<WorkflowHandle<typeof pipelineWorkflow>>;
  events(pipelineId: string): Promise<PipelineEvent[]>;
  waitForStatus(handle: WorkflowHandle, status: PipelineStatusName, timeoutMs?: number): Promise<void>;
  /**
   * Until every agent the pipeline started has closed: idle orchestration agents end just after their
   * pipeline (their parent close policy asks them to), so its result can come first.
   */
  waitForAgents(handle: WorkflowHandle, timeoutMs?: number): Promise<void>;
  /** Until the workflow waits on nothing of its own: no activity pending, its last workflow task completed. */
  waitForQuiet(handle: WorkflowHandle, timeoutMs?: number): Promise<void>;
  /** The pipeline's history (its latest run, or `runId`) and its agents' child workflows. */
  recordHistory(name: string, handle: WorkflowHandle, runId?: string): Promise<void>;
  stop(): Promise<void>;
}

/** Polls until the workflow is no longer running; false when `deadline` (epoch ms) came first. */
async function untilClosed(handle: WorkflowHandle, deadline: number): Promise<boolean> {
  while ((await handle.describe()).status.name === 'RUNNING') {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

export const uniqueId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

export interface HarnessOptions {
  taskQueue?: string;
  env?: Record<string, string>;
  /** Which workers this harness runs (workers/create.ts); default all three. */
  roles?: readonly WorkerRole[];
  /** The workers' identity in histories (default the SDK's pid@host). */
  identity?: string;
  /** More options for the pipeline worker (e.g. maxCachedWorkflows: 0 to replay every activation). */
  workerOptions?: Partial<WorkerOptions>;
}

export async function startHarness(name: string, opts: HarnessOptions = {}): Promise<Harness> {
  const config = parseConfig({ ...process.env, LLM_MODE: undefined, OPENROUTER_API_KEY: undefined, ...opts.env });
  routeSdkLogs();
  const client = await connectClient(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  const redis = await connectRedis(config.REDIS_URL);
  const ledger = new Ledger(join(mkdtempSync(join(tmpdir(), 'ag-ledger-')), 'ledger.db'));
  const taskQueue = opts.taskQueue ?? uniqueId(`test-${name}`);
  const connection = await connectNative(config.TEMPORAL_ADDRESS);
  const bundle = process.env.WORKFLOW_BUNDLE;
  const workers: Worker[] = await createWorkers({
    connection,
    config,
    taskQueue,
    redis,
    ledger,
    ...(opts.roles ? { roles: opts.roles } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(bundle ? { workflowBundle: { codePath: bundle } } : {}),
    ...(opts.workerOptions ? { options: opts.workerOptions } : {}),
  });
  const running = Promise.all(workers.map((w) => w.run()));
  // As `npm run worker` does: the test run's fresh dev server has no current version until the first
  // harness makes its own current; later ones find it current. A pipeline started before then waits.
  const version = deploymentVersion(config);
  if (version && (opts.roles ?? ['pipeline']).includes('pipeline')) {
    const outcome = await promoteVersion({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueue, version, mode: config.WORKER_PROMOTE });
    if (outcome.action === 'left')
      throw new Error(`worker version ${versionKey(version)} is not current (${versionKey(outcome.current)} is): ${outcome.reason}`);
  }

  return {
    client,
    redis,
    ledger,
    config,
    taskQueue,
    async start(input, pipelineId = uniqueId(name)) {
      return client.workflow.start<typeof pipelineWorkflow>('pipelineWorkflow', {
        taskQueue,
        workflowId: pipelineWorkflowId(pipelineId),
        args: [{ objective: 'Design a caching strategy', ...input } as PipelineInput],
      });
    },
    events: (pipelineId) => eventsSince(redis, pipelineId, 0),
    async waitForStatus(handle, status, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < deadline) {
        last = (await handle.query(statusQuery).catch(() => ({ status: '(no answer)' }))).status;
        if (last === status) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`pipeline did not reach ${status} within ${timeoutMs}ms (last: ${last})`);
    },
    async waitForQuiet(handle, timeoutMs = 30_000) {
      // The status query runs ahead of the outbox: a mirror batch may still be in flight after a
      // status is reached, and its activity and workflow task events land later.
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const d = await handle.describe();
        const events = (await handle.fetchHistory()).events ?? [];
        const lastTask = [...events]
          .reverse()
          .find((e) => e.workflowTaskScheduledEventAttributes || e.workflowTaskStartedEventAttributes || e.workflowTaskCompletedEventAttributes);
        if ((d.raw.pendingActivities ?? []).length === 0 && lastTask?.workflowTaskCompletedEventAttributes) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`workflow ${handle.workflowId} did not go quiet within ${timeoutMs}ms`);
    },
    async waitForAgents(handle, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const events = (await handle.fetchHistory()).events ?? [];
      const ids = new Set(events.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId).filter((id): id is string => !!id));
      for (const id of ids) {
        if (!(await untilClosed(client.workflow.getHandle(id), deadline))) throw new Error(`agent ${id} still running ${timeoutMs}ms after its pipeline`);
      }
    },
    async recordHistory(historyName, handle, runId) {
      // Recorded once, into the current release's folder (tests/histories/<package version>), and
      // committed; the replay test replays every release's against the current code. A file is written
      // only when missing; UPDATE_HISTORIES=1 records again the ones not sealed yet, never a file a
      // release's SHA256SUMS lists (tests/helpers/histories.ts). The agents' child workflows are
      // recorded beside the pipeline: they are replayed too.
      const show = async (workflowId: string, run?: string): Promise<unknown> => {
        // The CLI's JSON is the canonical format for replay (historyToJSON clashes with a nested protobufjs).
        const r = await runCli(
          process.env.TEMPORAL_CLI_PATH ?? 'temporal',
          ['workflow', 'show', '--workflow-id', workflowId, ...(run ? ['--run-id', run] : []), '--output', 'json', '--namespace', config.TEMPORAL_NAMESPACE],
          config.TEMPORAL_ADDRESS,
        );
        if (r.status !== 0) throw new Error(`temporal workflow show failed: ${r.stderr}`);
        return JSON.parse(r.stdout);
      };
      const write = (file: string, workflowId: string, history: unknown) =>
        // Replay derives the pipeline id from the workflow id, so it is kept beside the history.
        writeFileSync(file, `${JSON.stringify({ workflowId, history })}\n`);
      const dir = releaseDir(CURRENT_RELEASE);
      const wanted = (file: string) => mayRecord(basename(file)) && (!existsSync(file) || process.env.UPDATE_HISTORIES === '1');
      mkdirSync(dir, { recursive: true });
      const history = (await show(handle.workflowId, runId)) as {
        events?: { childWorkflowExecutionStartedEventAttributes?: { workflowExecution?: { workflowId?: string; runId?: string } } }[];
      };
      const file = join(dir, `${historyName}.json`);
      if (wanted(file)) write(file, handle.workflowId, history);
      const seen = new Map<string, number>();
      for (const e of history.events ?? []) {
        const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
        const agent = child?.workflowId ? parseWorkflowId(child.workflowId)?.agent : undefined;
        if (!child?.workflowId || !agent) continue;
        const base = `${agent.phase}-${agent.role}`;
        const n = (seen.get(base) ?? 0) + 1;
        seen.set(base, n);
        const childFile = join(dir, `${historyName}.${base}${n > 1 ? `-${n}` : ''}.json`);
        if (!wanted(childFile)) continue;
        // An idle agent ends just after its pipeline: record its end too (bounded: some tests record a run still open).
        await untilClosed(client.workflow.getHandle(child.workflowId, child.runId), Date.now() + 5_000);
        write(childFile, child.workflowId, await show(child.workflowId, child.runId));
      }
    },
    async stop() {
      workers.forEach((w) => w.shutdown());
      await running;
      await connection.close();
      await client.connection.close();
      redis.disconnect();
      ledger.close();
    },
  };
}

export interface ExtraWorker {
  identity: string;
  /** Finishes its tasks in hand and stops polling; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * One more provider-call worker on the harness's `<queue>-llm`, as a second worker process would be:
 * its own connection, its own Redis connection and so its own CircuitBreaker object (the state is
 * shared through Redis), and an identity of its own, which the history's ActivityTaskStarted records.
 * workers/create.ts's `llm` role, as `npm run worker` with WORKER_ROLES=llm builds it.
 */
export async function startLlmWorker(h: Harness, identity: string): Promise<ExtraWorker> {
  const { config } = h;
  const connection = await connectNative(config.TEMPORAL_ADDRESS);
  const redis = await connectRedis(config.REDIS_URL);
  const [worker] = await createWorkers({ connection, config, taskQueue: h.taskQueue, redis, roles: ['llm'], identity });
  if (!worker) throw new Error('createWorkers made no llm worker');
  const running = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    identity,
    stop: () =>
      (stopped ??= (async () => {
        worker.shutdown();
        await running;
        await connection.close();
        redis.disconnect();
      })()),
  };
}
