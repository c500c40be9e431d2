import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import proto from '@temporalio/proto';
import { SCENARIOS, type PipelineEvent, type StatusView } from '../common/types';
import { config } from '../lib/config';
import { formatEvent } from '../lib/eventFormat';
import { EventHub } from '../lib/eventHub';
import { followEvents } from '../lib/eventStream';
import { REPO_ROOT, startRedisServer, startTs, waitFor, type Managed } from '../devstack/processes';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import { ensureLocalTemporal, type DevServer } from '../devstack/temporalServer';

// `npm run demo`: brings up what is not running (Redis, the Temporal dev server, a worker, the API),
// spawns one pipeline in local mode through the API, streams its events live, prints the report and
// the result, and stops what it started.

const { values: flags } = parseArgs({
  options: {
    objective: { type: 'string', short: 'o', default: 'Design a caching strategy' },
    scenario: { type: 'string', short: 's', default: 'consensus' },
    latency: { type: 'string', short: 'l', default: '300' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  console.log('npm run demo -- [--objective "..."] [--scenario consensus|conflict|stuck|complex|flaky|revoked|no_consensus] [--latency ms]');
  process.exit(0);
}
if (!SCENARIOS.includes(flags.scenario as (typeof SCENARIOS)[number])) {
  console.error(`demo: --scenario must be one of ${SCENARIOS.join(', ')}`);
  process.exit(2);
}
const latencyMs = Number(flags.latency);
if (!Number.isInteger(latencyMs) || latencyMs < 0) {
  console.error('demo: --latency must be a whole number of milliseconds');
  process.exit(2);
}

const cfg = config();
const started: Managed[] = [];
let devServer: DevServer | undefined;
mkdirSync(join(REPO_ROOT, 'data'), { recursive: true });
const logFile = createWriteStream(join(REPO_ROOT, 'data', 'demo.log'), { flags: 'a' });
const say = (line: string) => console.log(line);
// Where Redis and Temporal were found to answer, for this process and the worker and API it starts:
// the configured host may name another address than the one that was checked (localhost → ::1).
let redisUrl = cfg.REDIS_URL;
let temporalAddress = cfg.TEMPORAL_ADDRESS;
const childEnv = (): NodeJS.ProcessEnv => ({ ...process.env, REDIS_URL: redisUrl, TEMPORAL_ADDRESS: temporalAddress });

async function ensureRedis(): Promise<void> {
  try {
    (await connectRedis(cfg.REDIS_URL)).disconnect();
    return;
  } catch {
    const url = new URL(cfg.REDIS_URL);
    const port = url.port || '6379';
    if (!['127.0.0.1', 'localhost'].includes(url.hostname)) throw new Error(`Redis does not answer at ${cfg.REDIS_URL}`);
    say(`· Redis does not answer at ${cfg.REDIS_URL}; starting redis-server on port ${port}`);
    started.push(await startRedisServer(port));
    url.hostname = '127.0.0.1'; // where startRedisServer binds and checked it
    redisUrl = url.toString();
  }
}

async function ensureTemporal(): Promise<void> {
  const uiPort = Number(new URL(cfg.TEMPORAL_UI_URL).port || 8233);
  const found = await ensureLocalTemporal(
    cfg.TEMPORAL_ADDRESS,
    { uiPort, dbFile: join(REPO_ROOT, 'data', 'temporal.db'), logFile: join(REPO_ROOT, 'data', 'temporal.log') },
    (line) => say(`· ${line} (Web UI ${cfg.TEMPORAL_UI_URL})`),
  );
  temporalAddress = found.address;
  devServer = found.server;
  say(devServer ? `· the Temporal dev server answers at ${temporalAddress}` : `· using the Temporal server at ${temporalAddress}`);
}

async function startWorker(): Promise<Managed> {
  // The demo's worker runs the code in front of you: its version takes new pipelines at once, even on a
  // dev server (data/temporal.db) whose current version is an older commit's (WORKER_PROMOTE, README).
  const worker = startTs('worker', 'workers/main.ts', { WORKER_PROMOTE: 'always', ...childEnv() }, logFile);
  started.push(worker);
  return worker;
}

async function ensureWorker(): Promise<void> {
  const client = await connectClient(temporalAddress, cfg.TEMPORAL_NAMESPACE);
  const pollers = async () => {
    const r = await client.workflowService.describeTaskQueue({
      namespace: cfg.TEMPORAL_NAMESPACE,
      taskQueue: { name: cfg.TEMPORAL_TASK_QUEUE },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    // The server lists pollers seen in the last minutes, dead ones too; a live worker polls at least
    // once a minute (long polls), so only a recent poll counts.
    const recent = Date.now() - 70_000;
    return (r.pollers ?? []).some((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000 > recent);
  };
  try {
    if (await pollers()) return say(`· a worker already polls ${cfg.TEMPORAL_TASK_QUEUE}`);
    say(`· starting a worker on ${cfg.TEMPORAL_TASK_QUEUE}`);
    const worker = await startWorker();
    await waitFor('worker', pollers, 90_000, worker);
  } finally {
    await client.connection.close();
  }
}

const apiBase = `http://${cfg.API_HOST}:${cfg.API_PORT}`;

async function ensureApi(): Promise<void> {
  const healthy = async () => (await fetch(`${apiBase}/healthz`)).ok;
  if (await healthy().catch(() => false)) return say(`· using the API at ${apiBase}`);
  say(`· starting the API on ${apiBase}`);
  const api = startTs('api', 'api/main.ts', childEnv(), logFile);
  started.push(api);
  // As long as the worker's: the API too connects to Temporal with connectClient's deadline.
  await waitFor('API', healthy, 90_000, api);
}

const authHeader: Record<string, string> = cfg.API_TOKEN ? { authorization: `Bearer ${cfg.API_TOKEN}` } : {};

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${apiBase}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...authHeader },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${json.message}`);
  return json;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  say('agent-governance demo: one governed pipeline, SPAWN → RUN → REPORT → ORCHESTRATE → COMPLETE\n');
  await ensureRedis();
  await ensureTemporal();
  await ensureWorker();
  await ensureApi();

  const pipelineId = `demo-${Date.now().toString(36)}`;
  const redis = await connectRedis(redisUrl);
  const hub = new EventHub(redis);
  const following = new AbortController();
  let finished: (e: PipelineEvent) => void = () => undefined;
  const done = new Promise<PipelineEvent>((resolve) => (finished = resolve));
  const start = Date.now();
  let events = 0; // before the subscription: an event may arrive before the spawn call returns
  await followEvents(hub, redis, pipelineId, {
    since: 0,
    signal: following.signal,
    send: (e) => {
      events++;
      say(`[+${((Date.now() - start) / 1000).toFixed(1).padStart(5)}s] ${formatEvent(e)}`);
      if (e.type === 'pipeline_finished') finished(e);
      return true;
    },
    fail: (_reason, detail) => {
      say(`· lost the pipeline's events: ${detail}`);
      finished({ type: 'pipeline_finished', pipeline_id: pipelineId, seq: -1, ts: '', data: { status: 'EVENTS_LOST' } });
    },
  });

  const spawned = await api<{ workflow_id: string }>('POST', '/api/spawn', {
    objective: flags.objective,
    pipeline_id: pipelineId,
    mode: 'local',
    scenario: flags.scenario,
    latency_ms: latencyMs,
    auto_continue: true,
  });
  say(`\nWeb UI: ${cfg.TEMPORAL_UI_URL}/namespaces/${cfg.TEMPORAL_NAMESPACE}/workflows/${spawned.workflow_id}\n`);

  const timeout = setTimeout(
    () => finished({ type: 'pipeline_finished', pipeline_id: pipelineId, seq: -1, ts: '', data: { status: 'DEMO_TIMEOUT' } }),
    10 * 60_000,
  );
  // A worker that looked alive may have just died: if nothing happens, start one.
  const watchdog = setTimeout(() => {
    if (events === 0 && !started.some((m) => m.name === 'worker')) {
      say('· no progress after 10s; starting a worker');
      void startWorker();
    }
  }, 10_000);
  const last = await done;
  clearTimeout(watchdog);
  clearTimeout(timeout);
  following.abort();
  await hub.close();
  redis.disconnect();

  // The deliverable as the API serves it: the adopted design in full, the votes, dissents and risks.
  const report = await fetch(`${apiBase}/api/pipeline/${pipelineId}/report.md`, { headers: authHeader });
  const status = await api<StatusView>('GET', `/api/pipeline/${pipelineId}`);
  say(`\n${report.ok ? await report.text() : `(no report: HTTP ${report.status})`}`);
  say(
    `\nResult: ${status.status} · ${status.agents.length} agents · ${status.agents.reduce((n, a) => n + a.tokens, 0)} tokens · GAMMA ${status.gamma.spawned ? `spawned (${status.gamma.reason})` : 'not needed'}`,
  );
  say(`Done in ${((Date.now() - t0) / 1000).toFixed(1)}s. Logs of what the demo started: data/demo.log`);
  return last.data.status === 'COMPLETED' ? 0 : 1;
}

async function cleanup(): Promise<void> {
  for (const m of started.reverse()) await m.stop();
  await devServer?.stop();
  logFile.end();
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: Error) => {
    console.error(`demo: ${err.message}`);
    await cleanup();
    process.exit(1);
  });
