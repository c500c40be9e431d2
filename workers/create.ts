import { NativeConnection, Worker, type CompiledWorkerOptions, type InjectedSinks, type WorkerInterceptors, type WorkerOptions } from '@temporalio/worker';
import { makeWorkflowExporter, type OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { createGammaActivities, createLlmActivities, createMirrorActivities, createSettingsActivities } from '../activities';
import { OpenAiProvider } from '../agents/openaiProvider';
import type { LlmProvider } from '../agents/provider';
import { SimulatorProvider } from '../agents/simulator';
import { ledgerTaskQueue, llmTaskQueue } from '../common/ids';
import type { LlmMode } from '../common/types';
import { allowedModels, pipelineDefaults, type Config } from '../lib/config';
import { createWorkerMetrics, type WorkerMetrics } from '../lib/metrics/series';
import { breakerName, CircuitBreaker } from '../lib/breaker';
import type { Ledger } from '../lib/ledger';
import { refreshKeyOn401, VaultClient } from '../lib/vault';
import { retryConnect } from '../lib/temporal';
import { tracing } from '../lib/tracing';
import { activityTracing } from './tracing';
import { deploymentVersion, workerDeploymentOptions, type DeploymentVersion } from './versioning';

// Builds the worker(s) of one process: the pipeline worker (workflows, simulator calls)
// on the task queue, the provider-call worker on `<queue>-llm` (rate-limited server-side by
// LLM_RATE_LIMIT), and the ledger writer on `<queue>-ledger` (the outbox: ledger rows, then Redis). Used by `npm run worker`, the tests and
// the benchmark alike, so they all run the same thing. `roles` lets a process run only some of them:
// many stateless pipeline/llm workers scale out; the ledger writer stays one.

export const WORKER_ROLES = ['pipeline', 'llm', 'ledger'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerDeps {
  connection: NativeConnection;
  config: Config;
  taskQueue?: string;
  redis: Redis;
  ledger?: Ledger;
  /** The workers' identity in histories (default the SDK's pid@host); a test tells two apart by it. */
  identity?: string;
  /** Which workers to run; default all three (the ledger writer only when a ledger is given). */
  roles?: readonly WorkerRole[];
  /** A prebuilt bundle (bundleWorkflowCode) to skip bundling at start. */
  workflowBundle?: { codePath: string };
  options?: Partial<WorkerOptions>;
  /** The deployment version all the workers declare; default from the config (workers/versioning.ts), null for none. */
  version?: DeploymentVersion | null;
  /** The process's Prometheus series (one registry for all its workers); default a fresh one nobody serves. */
  metrics?: WorkerMetrics;
}

/**
 * The workflow interceptors (workflows/tracing.ts: replay-safe spans, trace ids in workflow logs),
 * bundled with the workflows only when tracing is on. With a reused V8 context every workflow, each
 * agent child included, evaluates its bundle's modules when it starts: the OpenTelemetry SDK and the
 * spans took a quarter of the workflow thread's CPU (`npm run bench -- --cpu-prof`) with nowhere to
 * send them. Leaving them out changes no command, so histories replay either way (tests/unit/replay.test.ts).
 */
const WORKFLOW_INTERCEPTOR_MODULES = [fileURLToPath(new URL('../workflows/tracing.ts', import.meta.url))];

/**
 * The workflow side of every pipeline worker, shared by the real workers and the replay tests: the
 * workflow code and the `exporter` sink the workflow spans go to (the process's span processor,
 * lib/tracing.ts; dropped when tracing is off). The SDK does not call the sink while a workflow
 * replays: no span is exported twice. A prebuilt bundle (devstack/stack.ts builds one for the tests
 * and the benchmark) has no interceptors: with tracing on, the sources are bundled with them instead.
 */
export function workflowOptions(
  bundle?: { codePath: string },
  traced = tracing().enabled,
): {
  workflowsPath?: string;
  workflowBundle?: { codePath: string };
  interceptors: { workflowModules?: string[] };
  sinks: InjectedSinks<OpenTelemetrySinks>;
} {
  const { spanProcessor, resource } = tracing();
  return {
    ...(bundle && !traced
      ? { workflowBundle: bundle, interceptors: {} }
      : { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: traced ? WORKFLOW_INTERCEPTOR_MODULES : [] } }),
    sinks: { exporter: spanProcessor && resource ? makeWorkflowExporter(spanProcessor, resource) : { export: { fn: () => undefined } } },
  };
}

/** Activity spans (children of the workflow's StartActivity span), and the trace ids in activity logs (workers/tracing.ts). */
const activityInterceptors: Pick<WorkerInterceptors, 'activity'> = { activity: [activityTracing] };

/** The series of a worker process, with the models that may be labels (the allow-list). */
export const workerMetrics = (config: Config, opts: { processMetrics?: boolean } = {}): WorkerMetrics =>
  createWorkerMetrics({ models: allowedModels(config), ...opts });

/** The workers' connection; retries like connectClient (a refused connection fails at once here). */
export async function connectNative(address: string, deadlineMs?: number): Promise<NativeConnection> {
  return retryConnect(address, () => NativeConnection.connect({ address }), deadlineMs);
}

/**
 * The LLM backends of this worker. The key is read here, inside the worker (environment or Vault),
 * never in workflow code; the provider path goes through the circuit breaker every worker shares.
 */
export function llmProviders(config: Config, redis: Redis, metrics?: WorkerMetrics): Partial<Record<LlmMode, LlmProvider>> {
  const providers: Partial<Record<LlmMode, LlmProvider>> = { local: new SimulatorProvider() };
  const key = config.OPENROUTER_API_KEY;
  const vault = !key && config.VAULT_ADDR && config.VAULT_TOKEN ? new VaultClient({ addr: config.VAULT_ADDR, token: config.VAULT_TOKEN }) : undefined;
  if (key || vault) {
    const apiKey = key ? async () => key : () => vault!.openrouterApiKey();
    const name = breakerName(config.OPENROUTER_BASE_URL);
    const breaker: CircuitBreaker = new CircuitBreaker(redis, {
      name,
      ...(metrics ? { onTransition: metrics.watchBreaker(name, () => breaker.state()) } : {}),
      failures: config.BREAKER_FAILURES,
      cooldownMs: config.BREAKER_COOLDOWN_SECONDS * 1000,
    });
    const provider = new OpenAiProvider({ baseURL: config.OPENROUTER_BASE_URL, apiKey });
    // Inside the breaker: a 401 answered by a fresh key is no failure at all.
    providers.openrouter = breaker.wrap(vault ? refreshKeyOn401(provider, vault) : provider);
  }
  return providers;
}

/**
 * With LLM_CALLS=worker each call in flight keeps its agent's workflow task open, and so one of the
 * worker's workflow task slots (the SDK's default is 40): at 2 s a call, 50 pipelines at once measured a
 * p50 ratio of 1.88 against 1.56 with calls on the queue, their RUN calls waiting for slots. The slots
 * bound tasks held open, not CPU (the workflow thread runs one activation at a time either way): the
 * SDK's 40 for the workflows' own tasks, plus 100 for calls in flight, as many as the worker's local
 * activity slots (the SDK's default) can run.
 */
const CALLS_IN_WORKER_SLOTS: Pick<WorkerOptions, 'maxConcurrentWorkflowTaskExecutions'> = { maxConcurrentWorkflowTaskExecutions: 140 };

/**
 * The sandbox's limit on one workflow activation (WORKFLOW_ACTIVATION_TIMEOUT_SECONDS, lib/config.ts): a
 * signal flood must slow a workflow, never crash the worker. The SDK honours `isolateExecutionTimeout`
 * but leaves it out of WorkerOptions' type ("not exposed at the moment"), hence this typed spread.
 */
function activationTimeout(config: Config): Pick<CompiledWorkerOptions, 'isolateExecutionTimeout'> {
  return { isolateExecutionTimeout: config.WORKFLOW_ACTIVATION_TIMEOUT_SECONDS * 1000 };
}

export async function createWorkers(deps: WorkerDeps): Promise<Worker[]> {
  const { connection, config } = deps;
  const taskQueue = deps.taskQueue ?? config.TEMPORAL_TASK_QUEUE;
  const namespace = config.TEMPORAL_NAMESPACE;
  const roles = new Set(deps.roles ?? WORKER_ROLES);
  const metrics = deps.metrics ?? workerMetrics(config);
  const providers = roles.has('pipeline') || roles.has('llm') ? llmProviders(config, deps.redis, metrics) : {};
  // One version for every role: see workers/versioning.ts for why the activity-only queues are versioned.
  const deployment = workerDeploymentOptions(deps.version === undefined ? deploymentVersion(config) : (deps.version ?? undefined));
  const common = {
    connection,
    namespace,
    interceptors: activityInterceptors,
    ...(deps.identity ? { identity: deps.identity } : {}),
    ...(deployment ? { workerDeploymentOptions: deployment } : {}),
  };
  // Transcripts go to Redis, where the ledger writer collects them (lib/transcripts.ts).
  const llmDeps = { redis: deps.redis, taskQueue, metrics, ...(config.LLM_PRICES ? { prices: config.LLM_PRICES } : {}) };
  const workers: Worker[] = [];
  if (roles.has('pipeline')) {
    const wf = workflowOptions(deps.workflowBundle);
    workers.push(
      await Worker.create({
        ...common,
        taskQueue,
        ...wf,
        interceptors: { ...activityInterceptors, ...wf.interceptors },
        activities: {
          ...createSettingsActivities(pipelineDefaults(config)),
          // The simulator's calls run here and provider calls go to the LLM queue; a pipeline recorded
          // with LLM_CALLS=worker runs every call here, as a local activity. Every pipeline worker can
          // run them (with the key, when this process has one), whatever its own LLM_CALLS: such a
          // pipeline's agents may land on any of them, during a rolling change or after a rollback too.
          ...createLlmActivities(providers, llmDeps),
          ...createGammaActivities(),
        },
        ...activationTimeout(config),
        ...(config.LLM_CALLS === 'worker' ? CALLS_IN_WORKER_SLOTS : {}),
        ...deps.options,
      }),
    );
  }
  if (roles.has('llm')) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: llmTaskQueue(taskQueue),
        activities: createLlmActivities(providers, llmDeps),
        // Server-side: the queue dispatches at most this many calls per second across all its workers.
        ...(config.LLM_RATE_LIMIT ? { maxTaskQueueActivitiesPerSecond: config.LLM_RATE_LIMIT } : {}),
      }),
    );
  }
  if (roles.has('ledger') && deps.ledger) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: ledgerTaskQueue(taskQueue),
        activities: createMirrorActivities(deps.ledger, deps.redis, {
          taskQueue,
          transcriptRetentionDays: config.TRANSCRIPT_RETENTION_DAYS,
          eventRetentionSeconds: config.EVENT_RETENTION_SECONDS,
          metrics,
        }),
      }),
    );
  }
  return workers;
}
