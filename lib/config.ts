import { z } from 'zod';
import { CONTRACT_DEFAULTS, PIPELINE_INPUT_RULES, type IntRule } from '../common/input';
import { LLM_CALL_PLACES, LLM_MODES, type LlmMode, type PipelineDefaults } from '../common/types';
import { vaultAddrProblem } from './vault';

// Every variable of the contract, read once. A bad value stops the process with a message that names
// the variable and what it expects, instead of failing later somewhere deep.

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const url = z.string().url();
/** A comma-separated list; blanks dropped. */
/** A TCP port, or `0`/`off` for none (null): a listener that can be turned off. */
const optionalPort = z
  .string()
  .regex(/^(off|\d{1,5})$/, 'a port (1-65535), or 0 or off to disable')
  .transform((v) => (v === 'off' || Number(v) === 0 ? null : Number(v)))
  .refine((v) => v === null || v <= 65535, 'a port (1-65535), or 0 or off to disable');
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
// The pipeline defaults below stay inside what a pipeline input may say, and default to the contract's.
const input = PIPELINE_INPUT_RULES.fields;
const inRange = (rule: IntRule) => int(rule.min, rule.max);
const D = CONTRACT_DEFAULTS;

const schema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'host:port')
    .default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('agent-pipeline'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  LEDGER_PATH: z.string().min(1).default('./data/ledger.db'),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: int(0, 65535).default(3000),
  API_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  // Not in the contract: serve without API_TOKEN on a non-loopback API_HOST, for those whose own proxy authenticates.
  API_ALLOW_UNAUTHENTICATED: bool.default(false),
  // Not in the contract: the Host names the API answers (DNS rebinding); default API_HOST, plus localhost,
  // 127.0.0.1 and ::1 when it is a loopback address; any when API_HOST is 0.0.0.0 or ::. "*" allows any.
  API_ALLOWED_HOSTS: list.optional(),
  // Not in the contract: the Origins a browser may open /ws from; default the API's own origin (the Host asked for).
  API_ALLOWED_ORIGINS: list.optional(),
  // Not in the contract: the models a request may name (`model`, `models`); default OPENROUTER_MODEL and DEFAULT_MODELS.
  LLM_MODELS: list.optional(),
  // Not in the contract: spawn answers 429 while this many pipelines run on the task queue.
  MAX_RUNNING_PIPELINES: int(1, 1_000_000).default(50),
  AUTO_ORCHESTRATE: bool.default(D.autoContinue),
  LLM_MODE: z.enum(LLM_MODES).optional(),
  OPENROUTER_API_KEY: z.string().min(1).optional(),
  OPENROUTER_BASE_URL: url.default('https://openrouter.ai/api/v1'),
  OPENROUTER_MODEL: z.string().min(1).default(D.model),
  ORCHESTRATION_TIMEOUT: inRange(input.timeoutSeconds).default(D.timeoutSeconds),
  GAMMA_STUCK_THRESHOLD: inRange(input.thresholds.fields.stuckSeconds).default(D.thresholds.stuckSeconds),
  GAMMA_CONFLICT_THRESHOLD: inRange(input.thresholds.fields.conflictCount).default(D.thresholds.conflictCount),
  GAMMA_COMPLEXITY_THRESHOLD: z.coerce
    .number()
    .min(input.thresholds.fields.complexity.min)
    .max(input.thresholds.fields.complexity.max)
    .default(D.thresholds.complexity),
  ORCHESTRATION_MAX_ROUNDS: inRange(input.maxRounds).default(D.maxRounds),
  RECOVERY_WINDOW_SECONDS: int(1).default(D.recoveryWindowSeconds),
  // Not in the contract: how long a pipeline waits at REPORT for `continue` (autoContinue false) before it closes.
  APPROVAL_WINDOW_SECONDS: inRange(input.approvalWindowSeconds).default(D.approvalWindowSeconds),
  AGENT_TOKEN_BUDGET: inRange(input.budgets.fields.tokens).default(D.budgets.tokens),
  ERROR_BUDGET_TOTAL: inRange(input.budgets.fields.errors.fields.total).default(D.budgets.errors.total),
  ERROR_BUDGET_SAME: inRange(input.budgets.fields.errors.fields.same).default(D.budgets.errors.same),
  ERROR_BUDGET_VIOLATIONS: inRange(input.budgets.fields.errors.fields.violations).default(D.budgets.errors.violations),
  // Not in the contract: what one pipeline's LLM calls may cost in all (USD, as the provider reports it); `budgets.costUsd` overrides it.
  PIPELINE_COST_BUDGET_USD: z.coerce
    .number({ error: 'an amount in USD, e.g. 5 or 0.5' })
    .min(input.budgets.fields.costUsd.min)
    .max(input.budgets.fields.costUsd.max)
    .default(D.budgets.costUsd),
  // Not in the contract: USD per million tokens by model, for providers that report no cost, e.g.
  // {"llama3.1": {"prompt": 0.1, "completion": 0.3}}. OpenRouter reports each call's cost itself.
  LLM_PRICES: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'JSON such as {"model": {"prompt": 0.15, "completion": 0.6}} (USD per million tokens)' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string().min(1), z.object({ prompt: z.number().min(0), completion: z.number().min(0) }).strict()))
    .optional(),
  BREAKER_FAILURES: int(1, 1000).default(5),
  BREAKER_COOLDOWN_SECONDS: int(1, 86_400).default(30),
  LLM_RATE_LIMIT: z.coerce.number().positive().optional(),
  // Not in the contract: where an agent's LLM calls run. `queue` (default): each call is an activity on a
  // task queue (provider calls on `<queue>-llm`, rate-limited by LLM_RATE_LIMIT, shown pending in the Web
  // UI, cancelled within a heartbeat). `worker`: a local activity in the agent's own worker, one workflow
  // task and five history events fewer per call (README, "Per-call cost"); for fast models that need no
  // cross-worker rate limit.
  LLM_CALLS: z.enum(LLM_CALL_PLACES).default('queue'),
  // Not in the contract: the worker's name in histories (WorkflowTaskStarted and ActivityTaskStarted `identity`),
  // so an operator sees which of many workers ran a task; default the SDK's <pid>@<host>.
  WORKER_IDENTITY: z.string().min(1).max(200).optional(),
  // Not in the contract: how long the ledger keeps LLM transcripts (prompts and raw answers); older ones are pruned.
  TRANSCRIPT_RETENTION_DAYS: z.coerce
    .number({ error: 'a whole number of days' })
    .int('a whole number of days')
    .min(1, 'at least 1 day')
    .max(36_500, 'at most 36500 days')
    .default(30),
  // Not in the contract: how long a finished pipeline's events and blackboard stay in Redis (the ledger keeps them for /ws replay).
  EVENT_RETENTION_SECONDS: int(1, 10 * 365 * 86_400).default(7 * 86_400),
  // Not in the contract: the longest one workflow activation may run in the worker's sandbox before it is
  // stopped (the SDK's isolateExecutionTimeout, 5s by default). Above the 10s workflow task timeout, so a
  // slow activation (thousands of buffered signals on a loaded machine) is bounded by the server, which
  // retries the task, rather than by this timer: when it fires mid-activation, Node can abort the whole
  // worker process ("async hook stack has become corrupted"). It remains the guard against a workflow
  // that loops forever.
  WORKFLOW_ACTIVATION_TIMEOUT_SECONDS: int(1, 3600).default(60),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  VAULT_ADDR: url.optional(),
  VAULT_TOKEN: z.string().min(1).optional(),
  // Not in the contract: Worker Versioning (workers/versioning.ts). `false` runs plain unversioned workers.
  WORKER_VERSIONING: bool.default(true),
  // Not in the contract: the worker deployment this process's workers belong to.
  WORKER_DEPLOYMENT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, _ and -')
    .max(200)
    .default('agent-governance'),
  // Not in the contract: this build's id; default the package version and the git commit, e.g. 0.1.0+29dc92f (lib/buildId.ts).
  WORKER_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'letters, digits, ., _, + and -, e.g. 0.1.0+29dc92f')
    .max(200)
    .optional(),
  // Not in the contract: when the worker makes its version current (workers/versioning.ts): auto, always or never.
  WORKER_PROMOTE: z.enum(['auto', 'always', 'never']).default('auto'),
  // Not in the contract: the worker's own Prometheus /metrics (pipeline, LLM, breaker and outbox series; lib/metrics/series.ts).
  WORKER_METRICS_PORT: optionalPort.default(9464),
  // Not in the contract: the Temporal SDK's Prometheus exporter (its own worker, poller and cache series).
  WORKER_SDK_METRICS_PORT: optionalPort.default(9465),
  // Not in the contract: where both metrics listeners bind; 0.0.0.0 for a Prometheus on another host.
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // Not in the contract: traces (lib/tracing.ts). The OTLP/HTTP collector's base URL, e.g. http://localhost:4318
  // (spans go to <endpoint>/v1/traces); unset, nothing is traced or exported.
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .refine((v) => {
      // A base URL: /v1/traces is appended (lib/tracing.ts), so a query or fragment would end up in the middle.
      const u = URL.parse(v);
      return !!u && (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
    }, 'an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://localhost:4318')
    .optional(),
  // Not in the contract: the service name on this process's spans; default agent-governance-api or agent-governance-worker.
  OTEL_SERVICE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ., _ and -')
    .max(200)
    .optional(),
  // Not in the contract: where people open the Web UI (printed in links), default the dev server's.
  TEMPORAL_UI_URL: url.default('http://localhost:8233'),
});

export type Config = z.infer<typeof schema> & { llmMode: LlmMode };

/** Models a request may always name when LLM_MODELS is unset: the contract's default and the README's examples. */
export const DEFAULT_MODELS = [D.model, 'openai/gpt-4o-mini'] as const;

/** The models a request may name: LLM_MODELS, or OPENROUTER_MODEL with DEFAULT_MODELS. */
export const allowedModels = (cfg: Pick<Config, 'LLM_MODELS' | 'OPENROUTER_MODEL'>): string[] =>
  cfg.LLM_MODELS?.length ? [...new Set([...cfg.LLM_MODELS, cfg.OPENROUTER_MODEL])] : [...new Set([cfg.OPENROUTER_MODEL, ...DEFAULT_MODELS])];

/** Variables whose values never reach a log line, an error message or a workflow. */
export const SECRET_VARIABLES = ['OPENROUTER_API_KEY', 'VAULT_TOKEN', 'API_TOKEN'] as const;

export class ConfigError extends Error {
  constructor(
    public readonly variable: string,
    expected: string,
  ) {
    super(`bad value for ${variable}: ${expected}`);
    this.name = 'ConfigError';
  }
}

/** Parses an environment; throws a ConfigError naming the first bad variable. Empty values count as unset. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const present = Object.fromEntries(
    Object.keys(schema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0]);
    // Never echo the value of a secret back.
    const shown = (SECRET_VARIABLES as readonly string[]).includes(variable) ? '' : ` (got "${present[variable]}")`;
    throw new ConfigError(variable, `${issue.message}${shown}`);
  }
  const cfg = parsed.data;
  const vaultProblem = cfg.VAULT_ADDR ? vaultAddrProblem(cfg.VAULT_ADDR) : null;
  if (vaultProblem) throw new ConfigError('VAULT_ADDR', vaultProblem);
  const keyConfigured = Boolean(cfg.OPENROUTER_API_KEY || (cfg.VAULT_ADDR && cfg.VAULT_TOKEN));
  if (cfg.LLM_CALLS === 'worker' && cfg.LLM_RATE_LIMIT !== undefined) {
    // The limit is the LLM queue's dispatch rate: calls that never go through the queue would not obey it.
    throw new ConfigError('LLM_CALLS', 'worker runs calls outside the LLM queue, so LLM_RATE_LIMIT could not hold: unset one of them');
  }
  if (cfg.LLM_MODE === 'openrouter' && !keyConfigured) {
    throw new ConfigError('LLM_MODE', 'openrouter needs OPENROUTER_API_KEY, or VAULT_ADDR and VAULT_TOKEN');
  }
  return { ...cfg, llmMode: cfg.LLM_MODE ?? (keyConfigured ? 'openrouter' : 'local') };
}

let cached: Config | undefined;

/** The process's configuration; on a bad value prints what is wrong and exits with code 78 (EX_CONFIG). */
export function config(): Config {
  if (cached) return cached;
  try {
    cached = parseConfig(process.env);
    return cached;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agent-governance: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** The defaults a pipeline takes from the environment: no secrets in here, it goes into histories. */
export function pipelineDefaults(cfg: Config): PipelineDefaults {
  return {
    autoContinue: cfg.AUTO_ORCHESTRATE,
    mode: cfg.llmMode,
    model: cfg.OPENROUTER_MODEL,
    timeoutSeconds: cfg.ORCHESTRATION_TIMEOUT,
    thresholds: {
      stuckSeconds: cfg.GAMMA_STUCK_THRESHOLD,
      conflictCount: cfg.GAMMA_CONFLICT_THRESHOLD,
      complexity: cfg.GAMMA_COMPLEXITY_THRESHOLD,
    },
    maxRounds: cfg.ORCHESTRATION_MAX_ROUNDS,
    budgets: {
      tokens: cfg.AGENT_TOKEN_BUDGET,
      errors: { total: cfg.ERROR_BUDGET_TOTAL, same: cfg.ERROR_BUDGET_SAME, violations: cfg.ERROR_BUDGET_VIOLATIONS },
      costUsd: cfg.PIPELINE_COST_BUDGET_USD,
    },
    recoveryWindowSeconds: cfg.RECOVERY_WINDOW_SECONDS,
    approvalWindowSeconds: cfg.APPROVAL_WINDOW_SECONDS,
    // Only when not the default: the defaults are recorded in every pipeline's history.
    ...(cfg.LLM_CALLS === 'worker' ? { llmCalls: cfg.LLM_CALLS } : {}),
  };
}

/** The configuration with secrets masked, for the start-up log line. */
export function redactConfig(cfg: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cfg };
  for (const k of SECRET_VARIABLES) if (out[k] !== undefined) out[k] = '[set]';
  if (typeof out.REDIS_URL === 'string') out.REDIS_URL = out.REDIS_URL.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:***@');
  return out;
}
