import {
  Type,
  type Static,
  type TBoolean,
  type TInteger,
  type TNumber,
  type TObject,
  type TOptional,
  type TSchema,
  type TString,
  type TUnsafe,
} from '@fastify/type-provider-typebox';
import { PIPELINE_ID_PATTERN } from '../common/ids';
import { PIPELINE_INPUT_RULES, type Rule } from '../common/input';
import { GAMMA_REASONS, PHASES, RECOVER_ACTIONS, STATUSES } from '../common/types';

// HTTP schemas (snake_case bodies, as in the original design). Fastify validates requests with them,
// serializes answers with them and publishes them at /docs. Answers that mirror a workflow query keep
// additionalProperties open: a field the workflow adds later passes through instead of being cut off.

const literalUnion = <T extends readonly string[]>(values: T, description?: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const open = { additionalProperties: true };

type SchemaOf<R> = R extends { kind: 'string' }
  ? TString
  : R extends { kind: 'int' }
    ? TInteger
    : R extends { kind: 'number' }
      ? TNumber
      : R extends { kind: 'boolean' }
        ? TBoolean
        : R extends { kind: 'enum'; values: readonly (infer V)[] }
          ? TUnsafe<V>
          : R extends { kind: 'object'; fields: infer F }
            ? TObject<{ -readonly [K in keyof F]: TOptional<SchemaOf<F[K]>> }>
            : never;

/**
 * The schema of one field of the workflow input (common/input.ts PIPELINE_INPUT_RULES): the API refuses
 * with a 400 what the workflow would refuse, and the limits are written once. Nested objects keep
 * every field optional, as in the input.
 */
function fromRule<R extends Rule>(rule: R, options: { description?: string } = {}): SchemaOf<R> {
  const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries({ ...o, ...options }).filter(([, v]) => v !== undefined));
  const r = rule as Rule;
  switch (r.kind) {
    case 'string':
      // A trimmed field must have something besides white space.
      return Type.String(defined({ minLength: r.min, maxLength: r.max, pattern: r.pattern?.source ?? (r.trim && r.min ? '\\S' : undefined) })) as SchemaOf<R>;
    case 'int':
      return Type.Integer(defined({ minimum: r.min, maximum: r.max })) as SchemaOf<R>;
    case 'number':
      return Type.Number(defined({ minimum: r.min, maximum: r.max })) as SchemaOf<R>;
    case 'boolean':
      return Type.Boolean(defined({})) as SchemaOf<R>;
    case 'enum':
      return literalUnion(r.values, options.description) as SchemaOf<R>;
    case 'object':
      return Type.Object(Object.fromEntries(Object.entries(r.fields).map(([k, f]) => [k, Type.Optional(fromRule(f))])), {
        additionalProperties: false,
        ...defined({}),
      }) as SchemaOf<R>;
  }
}
const input = PIPELINE_INPUT_RULES.fields;

export const PipelineIdParam = Type.String({ pattern: PIPELINE_ID_PATTERN.source, description: 'pipeline id (without "pipeline-")' });

// --- errors ---
export const ErrorReply = Type.Object(
  { statusCode: Type.Integer(), error: Type.String(), message: Type.String() },
  { description: 'every error: 400 bad input, 401 bad or missing bearer token, 404 unknown pipeline, 409 wrong state, 503 a dependency is down' },
);
/** The error answers a route can give, by code (all share the one shape). */
export const errorsFor = <C extends number>(...codes: C[]) => Object.fromEntries(codes.map((c) => [c, ErrorReply])) as Record<C, typeof ErrorReply>;

// --- spawn ---
export const SpawnBody = Type.Object(
  {
    objective: fromRule(input.objective),
    auto_continue: Type.Optional(fromRule(input.autoContinue, { description: "orchestrate right after REPORT (default: the worker's AUTO_ORCHESTRATE)" })),
    mode: Type.Optional(fromRule(input.mode)),
    model: Type.Optional(fromRule(input.model)),
    models: Type.Optional(fromRule(input.models, { description: 'a model per role, overriding `model` for that role (openrouter mode)' })),
    timeout: Type.Optional(fromRule(input.timeoutSeconds, { description: 'orchestration deadline in seconds' })),
    pipeline_id: Type.Optional({ ...PipelineIdParam, description: 'idempotency key: spawning the same id again answers with the same pipeline' }),
    scenario: Type.Optional(fromRule(input.scenario, { description: 'local mode only: the simulated path' })),
    latency_ms: Type.Optional(fromRule(input.latencyMs, { description: 'local mode only: latency of each simulated call' })),
    approval_window: Type.Optional(
      fromRule(input.approvalWindowSeconds, {
        description: "seconds a pipeline waits at REPORT for continue before it closes TIMEOUT (default: the worker's APPROVAL_WINDOW_SECONDS)",
      }),
    ),
    cost_budget_usd: Type.Optional(
      fromRule(input.budgets.fields.costUsd, {
        description: "the most this pipeline may spend on provider calls, in USD (default: the worker's PIPELINE_COST_BUDGET_USD)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type SpawnBody = Static<typeof SpawnBody>;

export const SpawnReply = Type.Object({
  pipeline_id: Type.String(),
  workflow_id: Type.String(),
  run_id: Type.String(),
  status: Type.String({ description: 'the PipelineStatus search attribute: SPAWNING for a new pipeline, the current one for a repeat' }),
});

// --- list ---
export const ListQuery = Type.Object(
  {
    status: Type.Optional(literalUnion(STATUSES)),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  },
  { additionalProperties: false },
);
export const PipelineSummary = Type.Object({
  pipeline_id: Type.String(),
  workflow_id: Type.String(),
  run_id: Type.String(),
  execution_status: Type.String({ description: 'Temporal execution status (RUNNING, COMPLETED, CANCELLED, ...)' }),
  status: nullable(Type.String()),
  phase: nullable(Type.String()),
  started_at: Type.String(),
  closed_at: nullable(Type.String()),
});
export const ListReply = Type.Object({ pipelines: Type.Array(PipelineSummary) });

// --- status query ---
const AgentView = Type.Object(
  {
    id: Type.String(),
    role: Type.String(),
    phase: Type.String(),
    status: Type.String(),
    errors: Type.Integer(),
    tokens: Type.Integer(),
    violations: Type.Optional(Type.Integer()),
    budget: Type.Optional(
      Type.Object(
        { total: Type.Integer(), same: Type.Integer(), violations: Type.Integer(), tokens: Type.Integer() },
        { ...open, description: 'the limits the agent runs under' },
      ),
    ),
    revokedReason: Type.Optional(Type.String()),
  },
  open,
);
const GammaView = Type.Object({ spawned: Type.Boolean(), reason: nullable(Type.String()) }, open);
export const StatusReply = Type.Object(
  {
    pipelineId: Type.String(),
    phase: literalUnion(PHASES),
    status: literalUnion(STATUSES),
    agents: Type.Array(AgentView),
    gamma: GammaView,
    outbox: Type.Optional(
      nullable(
        Type.Object(
          {
            target: Type.Union([Type.Literal('ledger'), Type.Literal('redis')]),
            pending: Type.Integer(),
            attempts: Type.Integer(),
            lastError: Type.String(),
            since: Type.String(),
            retryAt: Type.String(),
          },
          {
            ...open,
            description: "set while the pipeline's record cannot be written: to the ledger (nothing more is recorded) or Redis (watchers lag); null otherwise",
          },
        ),
      ),
    ),
    startedAt: Type.String(),
    updatedAt: Type.String(),
  },
  { ...open, description: "the workflow's `status` query" },
);

// --- orchestration query ---
const Vote = Type.Object({ proposalId: Type.String(), agent: Type.String(), approve: Type.Boolean(), reason: Type.Optional(Type.String()) }, open);
const Proposal = Type.Object(
  {
    id: Type.String(),
    round: Type.Integer(),
    author: Type.String(),
    title: Type.String(),
    summary: Type.Optional(Type.String()),
    design: Type.Optional(Type.Object({}, { ...open, description: 'the design in sections: approach, components, tradeoffs, risks, rollout' })),
    complexity: Type.Optional(Type.Number()),
  },
  open,
);
const Consensus = Type.Object(
  { proposalId: Type.String(), title: Type.Optional(Type.String()), round: Type.Optional(Type.Integer()), votes: Type.Array(Vote) },
  open,
);
const AgentMessage = Type.Object(
  { id: Type.Optional(Type.String()), round: Type.Optional(Type.Integer()), from: Type.String(), to: Type.String(), content: Type.String() },
  open,
);
export const OrchestrationReply = Type.Object(
  {
    status: Type.String(),
    mode: Type.String(),
    model: Type.String(),
    round: Type.Optional(Type.Integer()),
    proposals: Type.Array(Proposal),
    votes: Type.Array(Vote),
    consensus: nullable(Consensus),
    gamma: Type.Object({ spawned: Type.Boolean(), reason: nullable(Type.String()), requests: Type.Optional(Type.Array(Type.Object({}, open))) }, open),
    messages: Type.Array(AgentMessage),
    attempt: Type.Optional(Type.Integer({ description: '1, then 2, 3... after each recover rerun' })),
    rejectedVotes: Type.Optional(Type.Array(Type.Object({}, open))),
    handoffs: Type.Optional(Type.Array(Type.Object({}, open))),
    subproblems: Type.Optional(Type.Array(Type.String())),
    partial: Type.Optional(nullable(Type.Object({ proposalId: Type.String(), title: Type.String() }, open))),
  },
  { ...open, description: "the workflow's `orchestration` query" },
);

// --- report ---
export const PipelineQuery = Type.Object({ pipeline_id: PipelineIdParam }, { additionalProperties: false });
const Report = Type.Object(
  {
    pipelineId: Type.String(),
    objective: Type.String(),
    kind: Type.String(),
    status: Type.String(),
    summary: Type.String(),
    agents: Type.Array(Type.Object({ role: Type.String(), summary: Type.String() }, open)),
    consensus: nullable(Consensus),
    notes: Type.Array(Type.String()),
    generatedAt: Type.String(),
    deliverable: Type.Optional(
      Type.Object({}, { ...open, description: 'the final report: the adopted design in full, the vote record, dissents, open risks, GAMMA' }),
    ),
  },
  open,
);
export const MarkdownReply = Type.String({ description: 'Markdown text' });
export const ReportReply = Type.Object({
  pipeline_id: Type.String(),
  report: nullable(Report),
  continuation: Type.Object({
    auto_continue: nullable(Type.Boolean({ description: "the pipeline's own setting (ledger), null while not yet recorded" })),
    status: Type.String(),
    can_continue: Type.Boolean(),
  }),
});

// --- signals and updates ---
export const IdParams = Type.Object({ id: PipelineIdParam });
export const ContinueBody = Type.Object(
  {
    pipeline_id: PipelineIdParam,
    mode: Type.Optional(fromRule(input.mode)),
    model: Type.Optional(fromRule(input.model)),
    timeout: Type.Optional(fromRule(input.timeoutSeconds)),
  },
  { additionalProperties: false },
);
export const StopBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });
export const GammaBody = Type.Object(
  { reason: Type.Optional(literalUnion(GAMMA_REASONS)), detail: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);
export const RecoverBody = Type.Object({ action: literalUnion(RECOVER_ACTIONS) }, { additionalProperties: false });
export const Accepted = Type.Object(
  {
    pipeline_id: Type.String(),
    accepted: Type.Boolean(),
    status: Type.Optional(Type.String({ description: 'updates only: the status the update moved the pipeline to' })),
  },
  open,
);

// --- ledger ---
export const LogsQuery = Type.Object(
  {
    pipeline_id: Type.Optional(PipelineIdParam),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
export const LogsReply = Type.Object({
  pipeline_id: nullable(Type.String()),
  entries: Type.Array(
    Type.Object({ id: Type.Integer(), pipeline_id: Type.String(), seq: Type.Integer(), type: Type.String(), data: Type.Unknown(), ts: Type.String() }),
    { description: 'the newest `limit` audit entries, oldest first' },
  ),
});
export const CheckpointsReply = Type.Object({
  pipeline_id: Type.String(),
  checkpoints: Type.Array(
    Type.Object({
      id: Type.Integer(),
      pipeline_id: Type.String(),
      run_key: Type.String(),
      key: Type.String(),
      phase: Type.String(),
      status: Type.String(),
      data: Type.Unknown(),
      ts: Type.String(),
    }),
  ),
});
export const TranscriptQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: "calls to skip: the previous page's next_offset" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'at most this many calls (fewer when their text passes 4 MiB)' })),
  },
  { additionalProperties: false },
);
const TranscriptUsage = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  cost_usd: nullable(Type.Number()),
});
const ChatMessage = Type.Object({ role: Type.String(), content: Type.String() }, open);
const TranscriptExchange = Type.Object({
  messages: Type.Array(ChatMessage, { description: 'the messages as sent' }),
  params: Type.Object({}, { ...open, description: 'the rest of the request body as sent (model, response_format, temperature…)' }),
  answer: nullable(Type.String({ description: 'the raw answer text as received' })),
  model: nullable(Type.String()),
  usage: nullable(TranscriptUsage),
  finish_reason: nullable(Type.String()),
  error: nullable(Type.String({ description: 'why the request failed' })),
  rejected: nullable(Type.String({ description: 'why the answer was not accepted (then repaired, or the call failed)' })),
  started_at: Type.String(),
  ms: Type.Integer(),
});
export const TranscriptReply = Type.Object({
  pipeline_id: Type.String(),
  total: Type.Integer({ description: 'calls transcribed so far' }),
  offset: Type.Integer(),
  next_offset: nullable(Type.Integer({ description: 'where the next page starts; null after the last call' })),
  calls: Type.Array(
    Type.Object({
      key: Type.String(),
      agent_id: Type.String({ description: "the agent's workflow id" }),
      role: Type.String(),
      task: Type.String(),
      round: Type.Integer(),
      try: Type.Integer({ description: "the agent's try of this task (1 first)" }),
      attempt: Type.Integer({ description: "Temporal's attempt of the call's activity" }),
      repair: nullable(Type.String({ description: 'the protocol problem this try repairs' })),
      model: Type.String(),
      usage: nullable(TranscriptUsage),
      outcome: Type.String({ description: '"ok" or the error class' }),
      error: nullable(Type.String()),
      started_at: Type.String(),
      ended_at: Type.String(),
      exchanges: Type.Array(TranscriptExchange, { description: "the HTTP requests of the call, with the provider's one repair request when there was one" }),
    }),
    { description: 'in the order they started' },
  ),
});

// --- health ---
export const HealthReply = Type.Object({
  status: literalUnion(['ok', 'degraded'] as const),
  checks: Type.Object({ temporal: Type.String(), redis: Type.String(), ledger: Type.String() }, { description: '"ok" or "down: <why>"' }),
});

// --- events ---
export const WsQuery = Type.Object(
  {
    pipeline_id: Type.Optional(PipelineIdParam),
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'with pipeline_id: the last seq the client has; events after it are replayed first. Not accepted without pipeline_id.',
      }),
    ),
    partials: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'with pipeline_id: also send `llm_partial` messages, the LLM answers as they stream in (live only, no seq, never stored)',
      }),
    ),
  },
  { additionalProperties: false },
);
