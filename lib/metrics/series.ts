import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LLM_ERROR_KINDS, CIRCUIT_OPEN } from '../../common/failures';
import { GAMMA_REASONS, LOCAL_MODEL, PHASES, ROLES, STATUSES, type LlmMode } from '../../common/types';
import type { AgentTask } from '../../agents/provider';
import { REVOCATION_CAUSES } from '../../governance/errorBudget';

// The worker's Prometheus series: every name, help text and label set is here and nowhere else (the
// dashboard, the alert rules and the README name them after this file). Labels are bounded by design:
// each takes its values from a closed list (roles, statuses, phases, GAMMA reasons, error kinds, the
// LLM_MODELS allow-list), anything else becomes "other"; no pipeline or agent id is ever a label, so a
// million pipelines make the same number of series as one.
//
// Where the figures come from: workflow code never touches this. The ledger writer (activities/mirror.ts)
// counts each pipeline event the first time the ledger takes it (lib/metrics/pipelineEvents.ts), so a
// retried batch is not counted twice; the LLM activity counts each provider call it makes; the circuit
// breaker counts the transitions it makes. A process that runs several worker roles has one registry.

export const OTHER = 'other';

/**
 * prom-client's default process series, minus the three gauges it names *_total (promtool: "non-counter
 * metrics should not have _total suffix"); nodejs_active_handles, _requests and _resources, by type, stay.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
}

/** `value` when it is in `allowed`, else "other": what keeps a label's values a closed set. */
export const bounded = (value: string | undefined, allowed: readonly string[]): string => (value !== undefined && allowed.includes(value) ? value : OTHER);

const AGENT_TASKS: readonly AgentTask[] = ['research', 'synthesis', 'propose', 'evaluate', 'mediate'];
/** An LLM call's outcome: ok, a provider error kind, cancelled, or error (anything else). */
export const LLM_OUTCOMES = ['ok', ...LLM_ERROR_KINDS, CIRCUIT_OPEN, 'cancelled', 'error'] as const;
export const BREAKER_STATES = ['closed', 'half_open', 'open'] as const;
export type BreakerStateName = (typeof BREAKER_STATES)[number];

// Seconds: a phase lasts from well under a second (SPAWN) to days (REPORT waiting for approval).
const PHASE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400];
const ROUND_BUCKETS = [1, 2, 3, 4, 5, 7, 10, 15, 20, 50, 100];
// Provider calls: a simulated call takes milliseconds, a reasoning model minutes.
const LLM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 300];
// From the moment the workflow recorded an event to the ledger's write of it: normally well under a
// second; minutes or hours when the ledger writer was down.
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800, 7200];

export interface WorkerMetricsOptions {
  /** Models that may appear as a label (lib/config.ts allowedModels); others count as "other". */
  models: readonly string[];
  /** Default process series (CPU, memory, event loop): on for a worker process, off in tests that build several. */
  processMetrics?: boolean;
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export function createWorkerMetrics(opts: WorkerMetricsOptions) {
  const registry = new Registry();
  if (opts.processMetrics) collectProcessMetrics(registry);
  const registers = [registry];
  const models = [...opts.models, LOCAL_MODEL];
  /** The breakers this process calls through, and how to read each one's state. */
  const breakers = new Map<string, () => Promise<{ state: BreakerStateName }>>();
  return {
    registry,
    /** The model label: the allow-list's names, the simulator, or "other". */
    modelLabel: (model: string | undefined, mode?: LlmMode): string => (mode === 'local' ? LOCAL_MODEL : bounded(model, models)),
    labels: {
      role: (role: string | undefined) => bounded(role?.toLowerCase(), ROLES),
      status: (status: string | undefined) => bounded(status, STATUSES),
      phase: (phase: string | undefined) => bounded(phase, PHASES),
      gammaReason: (reason: string | undefined) => bounded(reason, GAMMA_REASONS),
      task: (task: string | undefined) => bounded(task, AGENT_TASKS),
      outcome: (outcome: string | undefined) => bounded(outcome, LLM_OUTCOMES),
      mode: (mode: string | undefined) => bounded(mode, ['local', 'openrouter']),
      revocation: (cause: string | undefined) => bounded(cause, REVOCATION_CAUSES),
    },

    pipelinesStarted: new Counter({
      name: 'pipelines_started_total',
      help: 'Pipelines started (their pipeline_spawned event reached the ledger), by LLM mode',
      labelNames: ['mode'] as const,
      registers,
    }),
    pipelinesEnded: new Counter({
      name: 'pipelines_ended_total',
      help: 'Pipelines ended (pipeline_finished reached the ledger), by final status',
      labelNames: ['status'] as const,
      registers,
    }),
    phaseDuration: new Histogram({
      name: 'pipeline_phase_duration_seconds',
      help: 'How long pipelines stayed in a phase (SPAWN, RUN, REPORT, ORCHESTRATE, COMPLETE), measured on the workflow clock',
      labelNames: ['phase'] as const,
      buckets: PHASE_BUCKETS,
      registers,
    }),
    consensusRounds: new Histogram({
      name: 'pipeline_consensus_rounds',
      help: 'Orchestration rounds an orchestration took to reach consensus (orchestrations that reached it)',
      buckets: ROUND_BUCKETS,
      registers,
    }),
    gammaSpawns: new Counter({
      name: 'gamma_spawns_total',
      help: 'GAMMA mediators called in, by reason (STUCK, CONFLICT, COMPLEXITY, MANUAL)',
      labelNames: ['reason'] as const,
      registers,
    }),
    revocations: new Counter({
      name: 'agent_revocations_total',
      help: 'Agents revoked, by role and by the budget that revoked them (tokens, total, same, violations, fatal)',
      labelNames: ['role', 'reason'] as const,
      registers,
    }),
    llmCalls: new Counter({
      name: 'llm_calls_total',
      help: 'LLM calls made (each activity attempt is one call), by role, model, task and outcome',
      labelNames: ['role', 'model', 'task', 'outcome'] as const,
      registers,
    }),
    llmDuration: new Histogram({
      name: 'llm_call_duration_seconds',
      help: 'LLM call latency (the whole call, repair request included), by role and model',
      labelNames: ['role', 'model'] as const,
      buckets: LLM_BUCKETS,
      registers,
    }),
    llmTokens: new Counter({
      name: 'llm_tokens_total',
      help: 'Tokens of answered LLM calls as the provider reported them, by role, model and kind (prompt, completion)',
      labelNames: ['role', 'model', 'kind'] as const,
      registers,
    }),
    llmCost: new Counter({
      name: 'llm_cost_usd_total',
      help: 'What answered LLM calls cost in US dollars (as the provider reported it, or LLM_PRICES), by role and model',
      labelNames: ['role', 'model'] as const,
      registers,
    }),
    /** Reports `name`'s state in llm_breaker_state and counts its transitions. */
    watchBreaker(name: string, read: () => Promise<{ state: BreakerStateName }>): (to: BreakerStateName) => void {
      breakers.set(name, read);
      return (to) => this.breakerTransitions.inc({ breaker: name, to });
    },
    // Read from Redis at scrape time (the state is the fleet's, not this process's): true whichever
    // worker opened it. Redis unreachable or slow: the breaker's series are left out of this scrape.
    breakerState: new Gauge({
      name: 'llm_breaker_state',
      help: 'The shared LLM circuit breaker: 1 for its current state (closed, half_open, open), read from Redis at scrape time',
      labelNames: ['breaker', 'state'] as const,
      registers,
      async collect() {
        for (const [breaker, read] of breakers) {
          const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref());
          await Promise.race([read(), timeout]).then(
            ({ state }) => BREAKER_STATES.forEach((s) => this.set({ breaker, state: s }, s === state ? 1 : 0)),
            () => BREAKER_STATES.forEach((s) => this.remove({ breaker, state: s })),
          );
        }
      },
    }),
    breakerTransitions: new Counter({
      name: 'llm_breaker_transitions_total',
      help: 'Circuit breaker transitions this process made, by breaker and the state entered',
      labelNames: ['breaker', 'to'] as const,
      registers,
    }),
    outboxLag: new Histogram({
      name: 'outbox_lag_seconds',
      help: 'Seconds from a pipeline event being recorded by the workflow to its first write to the ledger',
      buckets: LAG_BUCKETS,
      registers,
    }),
    outboxFailures: new Counter({
      name: 'outbox_write_failures_total',
      help: 'Outbox batches a target did not take (ledger: the batch is retried; redis: watchers lag until the next batch)',
      labelNames: ['target'] as const,
      registers,
    }),
  };
}
