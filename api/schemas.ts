import { Type, type Static } from '@fastify/type-provider-typebox';
import { GAMMA_REASONS, LLM_MODES, RECOVER_ACTIONS, SCENARIOS, STATUSES } from '../common/types';

// HTTP schemas (snake_case bodies, as in the original design). Fastify validates with them and
// publishes them at /docs.

const literalUnion = <T extends readonly string[]>(values: T) => Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });

export const PipelineIdParam = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$', description: 'pipeline id (without "pipeline-")' });

export const SpawnBody = Type.Object(
  {
    objective: Type.String({ minLength: 1, maxLength: 4000 }),
    auto_continue: Type.Optional(Type.Boolean()),
    mode: Type.Optional(literalUnion(LLM_MODES)),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'orchestration deadline in seconds' })),
    pipeline_id: Type.Optional(PipelineIdParam),
    scenario: Type.Optional(literalUnion(SCENARIOS)),
    latency_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type SpawnBody = Static<typeof SpawnBody>;

export const SpawnReply = Type.Object({
  pipeline_id: Type.String(),
  workflow_id: Type.String(),
  run_id: Type.String(),
  status: Type.String(),
});

export const ErrorReply = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() });

const AgentView = Type.Object({
  id: Type.String(),
  role: Type.String(),
  phase: Type.String(),
  status: Type.String(),
  errors: Type.Integer(),
  tokens: Type.Integer(),
});

export const StatusReply = Type.Object({
  pipelineId: Type.String(),
  phase: Type.String(),
  status: literalUnion(STATUSES),
  agents: Type.Array(AgentView),
  gamma: Type.Object({ spawned: Type.Boolean(), reason: Type.Union([Type.String(), Type.Null()]) }),
  startedAt: Type.String(),
  updatedAt: Type.String(),
});

export const IdParams = Type.Object({ id: PipelineIdParam });
export const ContinueBody = Type.Object(
  {
    pipeline_id: PipelineIdParam,
    mode: Type.Optional(literalUnion(LLM_MODES)),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  },
  { additionalProperties: false },
);
export const StopBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });
export const GammaBody = Type.Object(
  { reason: Type.Optional(literalUnion(GAMMA_REASONS)), detail: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);
export const RecoverBody = Type.Object({ action: literalUnion(RECOVER_ACTIONS) }, { additionalProperties: false });
export const Accepted = Type.Object({ pipeline_id: Type.String(), accepted: Type.Boolean() }, { additionalProperties: true });
export const ListQuery = Type.Object({
  status: Type.Optional(literalUnion(STATUSES)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
});
export const PipelineQuery = Type.Object({ pipeline_id: PipelineIdParam });
export const LogsQuery = Type.Object({
  pipeline_id: Type.Optional(PipelineIdParam),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});
