import type { NativeConnection, WorkerDeploymentOptions } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { buildId } from '../lib/buildId';
import type { Config } from '../lib/config';

// Worker Versioning (Temporal worker deployments). Every worker of a process (pipeline, llm and
// ledger roles) declares the same deployment version: the deployment name and this build's id.
// Pipelines and agents are Pinned: the server sends all their tasks to the version that started
// them, so a pipeline waiting days at REPORT finishes on the code it started with, and new
// pipelines take the deployment's current version.
//
// The activity-only queues `<queue>-llm` and `<queue>-ledger` are versioned too, on purpose: an
// activity of a pinned workflow goes to its own version's workers when its queue is part of that
// version (the version polls it), so a release may change an activity's input, its output or the
// ledger's rows without old pipelines calling new activity code. The price: an old version's llm
// and ledger workers must run until its pipelines have drained, like its pipeline workers (the
// `temporal worker deployment describe-version` drainage status says when).

export const PROMOTE_MODES = ['auto', 'always', 'never'] as const;
export type PromoteMode = (typeof PROMOTE_MODES)[number];

export interface DeploymentVersion {
  deploymentName: string;
  buildId: string;
}

/** This process's deployment version; undefined when WORKER_VERSIONING is false. */
export function deploymentVersion(cfg: Pick<Config, 'WORKER_VERSIONING' | 'WORKER_DEPLOYMENT_NAME' | 'WORKER_BUILD_ID'>): DeploymentVersion | undefined {
  if (!cfg.WORKER_VERSIONING) return undefined;
  return { deploymentName: cfg.WORKER_DEPLOYMENT_NAME, buildId: buildId(cfg.WORKER_BUILD_ID) };
}

/** Worker.create's option: versioned and Pinned by default (no workflow declares a behaviour of its own). */
export function workerDeploymentOptions(version: DeploymentVersion | undefined): WorkerDeploymentOptions | undefined {
  return version ? { useWorkerVersioning: true, version, defaultVersioningBehavior: 'PINNED' } : undefined;
}

/** How `deploymentName:buildId` reads in the TemporalWorkerDeploymentVersion search attribute. */
export const versionKey = (v: DeploymentVersion): string => `${v.deploymentName}:${v.buildId}`;

/** A live worker long-polls at least once a minute; the server lists dead pollers for minutes more. */
const LIVE_POLL_MS = 70_000;

export type PromoteOutcome =
  { action: 'current' } | { action: 'promoted'; from?: DeploymentVersion } | { action: 'left'; current: DeploymentVersion; reason: string };

export interface PromoteOptions {
  connection: NativeConnection;
  namespace: string;
  /** The pipeline task queue: whether the current version still has live workers is read there. */
  taskQueue: string;
  version: DeploymentVersion;
  mode: PromoteMode;
  /** How long to wait for the server to list this version (it does once the workers' polls arrive). */
  registerTimeoutMs?: number;
  identity?: string;
}

/**
 * Makes this version the deployment's current one when `mode` says so:
 * - `auto` (default): when the deployment has no current version (its first deploy), or when the
 *   current version has no live worker on the task queue (a recreate deploy: the old workers are gone,
 *   so nothing else could take new pipelines). It never takes over from a live current version: in a
 *   rolling deploy the operator makes the new version current (`temporal worker deployment
 *   set-current-version`) once its workers are up.
 * - `always`: at every start (one version at a time, e.g. a dev server reused across commits).
 * - `never`: only the operator does.
 * Call it once the workers poll: the server knows a version only from its workers' polls.
 */
export async function promoteVersion(opts: PromoteOptions): Promise<PromoteOutcome> {
  const { connection, namespace, version, mode } = opts;
  const service = connection.workflowService;
  const deadline = Date.now() + (opts.registerTimeoutMs ?? 30_000);
  for (;;) {
    const described = await service.describeWorkerDeployment({ namespace, deploymentName: version.deploymentName }).catch((err: Error & { code?: number }) => {
      // NOT_FOUND until the first poll of any version of the deployment has arrived.
      if (err.code === 5) return undefined;
      throw err;
    });
    const info = described?.workerDeploymentInfo;
    const registered = info?.versionSummaries?.some((s) => s.deploymentVersion?.buildId === version.buildId);
    const cur = info?.routingConfig?.currentDeploymentVersion;
    const current = cur?.buildId ? { deploymentName: cur.deploymentName ?? version.deploymentName, buildId: cur.buildId } : undefined;
    if (current?.buildId === version.buildId) return { action: 'current' };
    if (registered) {
      if (mode === 'never') return { action: 'left', current: current!, reason: 'WORKER_PROMOTE is never' };
      if (mode === 'auto' && current && (await hasLiveWorkers(opts, current))) {
        return { action: 'left', current, reason: 'the current version has live workers' };
      }
      try {
        await service.setWorkerDeploymentCurrentVersion({
          namespace,
          deploymentName: version.deploymentName,
          buildId: version.buildId,
          conflictToken: described?.conflictToken,
          identity: opts.identity ?? 'agent-governance worker',
        });
        return { action: 'promoted', ...(current ? { from: current } : {}) };
      } catch (err) {
        // A conflict (another worker of this version promoted it first) or a task queue of the
        // version that is not polled yet (a role still starting): look again.
        if (Date.now() > deadline) throw err;
      }
    } else if (Date.now() > deadline) {
      throw new Error(
        `the server does not list version ${versionKey(version)} ${Math.round((opts.registerTimeoutMs ?? 30_000) / 1000)}s after its workers started polling`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Whether a worker of `version` has polled the pipeline task queue within the last minute. */
async function hasLiveWorkers(opts: PromoteOptions, version: DeploymentVersion): Promise<boolean> {
  const r = await opts.connection.workflowService.describeTaskQueue({
    namespace: opts.namespace,
    taskQueue: { name: opts.taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const recent = Date.now() - LIVE_POLL_MS;
  return (r.pollers ?? []).some(
    (p) =>
      p.deploymentOptions?.buildId === version.buildId &&
      p.deploymentOptions?.deploymentName === version.deploymentName &&
      Number(p.lastAccessTime?.seconds ?? 0) * 1000 > recent,
  );
}

export interface Say {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * promoteVersion at a worker's start, then, in `auto` mode while the current version still looks
 * alive, again every `everyMs` for `forMs`: after a recreate deploy the old workers' last polls stay
 * listed for about a minute. Ends with a log line that says which version takes new pipelines and,
 * when it is not this one, the command that makes it so. Never throws: a worker that cannot promote
 * still runs the pipelines pinned to it.
 */
export async function superviseVersion(
  opts: PromoteOptions & { log: Say; forMs?: number; everyMs?: number; stopped?: () => boolean },
): Promise<PromoteOutcome | undefined> {
  const { log, version } = opts;
  const until = Date.now() + (opts.forMs ?? 3 * 60_000);
  const key = versionKey(version);
  for (;;) {
    let outcome: PromoteOutcome;
    try {
      outcome = await promoteVersion(opts);
    } catch (err) {
      log.warn({ version: key, err: (err as Error).message }, 'could not read or set the current worker deployment version');
      return undefined;
    }
    if (outcome.action === 'current') {
      log.info({ version: key }, 'this worker version is current: new pipelines start on it');
      return outcome;
    }
    if (outcome.action === 'promoted') {
      log.info({ version: key, previous: outcome.from ? versionKey(outcome.from) : null }, 'made this worker version current: new pipelines start on it');
      return outcome;
    }
    const retry = opts.mode === 'auto' && Date.now() + (opts.everyMs ?? 15_000) < until && !opts.stopped?.();
    if (!retry) {
      log.warn(
        { version: key, current: versionKey(outcome.current), reason: outcome.reason },
        `this worker version is not current: it runs only the pipelines pinned to it. New pipelines start on ${versionKey(outcome.current)} until ` +
          `\`temporal worker deployment set-current-version --deployment-name ${version.deploymentName} --build-id ${version.buildId}\``,
      );
      return outcome;
    }
    // unref: a worker that stops meanwhile exits without waiting for this timer.
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 15_000).unref());
  }
}
