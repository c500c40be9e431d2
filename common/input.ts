import { LLM_MODES, SCENARIOS, type PipelineDefaults, type PipelineInput, type PipelineSettings } from './types';
import { PIPELINE_ID_PATTERN, PIPELINE_ID_RULE } from './ids';

// The workflow input's schema, checked inside the workflow sandbox, so a bad input fails the workflow
// at once with a message naming the field, instead of a workflow task retried forever.
// Why not zod (which this project used here before): with a reused V8 context every workflow — the
// pipeline and each agent child — re-evaluates the bundle's modules when it starts, and loading zod
// and building the schema cost ~16 ms of CPU per workflow (measured with --cpu-prof; the benchmark's
// largest single item). This walker over a plain description does the same job for this one schema.

export type IntRule = { kind: 'int'; min: number; max?: number };
export type Rule =
  | { kind: 'string'; min?: number; max: number; trim?: boolean; pattern?: RegExp; patternMessage?: string; required?: boolean }
  | IntRule
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'object'; fields: Record<string, Rule> };

const positiveInt = (max?: number): IntRule => ({ kind: 'int', min: 1, ...(max !== undefined ? { max } : {}) });
const modelName = { kind: 'string', min: 1, max: 200 } as const;

// Also the source of the API's request schemas (api/schemas.ts) and of the configuration's ranges
// (lib/config.ts), so a limit changed here changes everywhere: hence `as const`, which keeps each
// field's rule addressable by name.
export const PIPELINE_INPUT_RULES = {
  kind: 'object',
  fields: {
    pipelineId: { kind: 'string', max: 100, pattern: PIPELINE_ID_PATTERN, patternMessage: PIPELINE_ID_RULE },
    objective: { kind: 'string', min: 1, max: 4000, trim: true, required: true },
    autoContinue: { kind: 'boolean' },
    mode: { kind: 'enum', values: LLM_MODES },
    model: modelName,
    models: { kind: 'object', fields: { alpha: modelName, beta: modelName, gamma: modelName } },
    timeoutSeconds: positiveInt(86_400),
    thresholds: {
      kind: 'object',
      fields: { stuckSeconds: positiveInt(86_400), conflictCount: positiveInt(1000), complexity: { kind: 'number', min: 0, max: 1 } },
    },
    maxRounds: positiveInt(100),
    budgets: {
      kind: 'object',
      fields: {
        tokens: positiveInt(),
        errors: { kind: 'object', fields: { total: positiveInt(1000), same: positiveInt(1000), violations: positiveInt(1000) } },
        costUsd: { kind: 'number', min: 0.0001, max: 100_000 },
      },
    },
    scenario: { kind: 'enum', values: SCENARIOS },
    latencyMs: { kind: 'int', min: 0, max: 600_000 },
    approvalWindowSeconds: positiveInt(31_536_000),
  },
} as const satisfies Rule;

export class InputError extends Error {
  constructor(
    message: string,
    public readonly field: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value checked against its rule: the cleaned value, or the problem with it. */
function check(rule: Rule, value: unknown, path: string): unknown {
  const fail = (problem: string, at = path): never => {
    throw new InputError(`invalid pipeline input: field "${at}" ${problem}`, at);
  };
  switch (rule.kind) {
    case 'string': {
      if (typeof value !== 'string') return fail('must be a string');
      const v = rule.trim ? value.trim() : value;
      if (rule.min && v.length < rule.min) return fail(rule.trim ? 'must not be empty' : `must be at least ${rule.min} character(s)`);
      if (v.length > rule.max) return fail(`must be at most ${rule.max} characters`);
      if (rule.pattern && !rule.pattern.test(v)) return fail(`must be ${rule.patternMessage}`);
      return v;
    }
    case 'int':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail('must be a number');
      if (rule.kind === 'int' && !Number.isInteger(value)) return fail('must be a whole number');
      if (value < rule.min) return fail(`must be at least ${rule.min}`);
      if (rule.max !== undefined && value > rule.max) return fail(`must be at most ${rule.max}`);
      return value;
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : fail('must be true or false');
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value) ? value : fail(`must be one of ${rule.values.join(', ')}`);
    case 'object': {
      if (!isObject(value)) return fail('must be an object');
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (!(key in rule.fields)) fail('is not a known field', path ? `${path}.${key}` : key);
      }
      for (const [key, sub] of Object.entries(rule.fields)) {
        const at = path ? `${path}.${key}` : key;
        if (value[key] === undefined) {
          if (sub.kind === 'string' && sub.required) fail('is required', at);
          continue;
        }
        out[key] = check(sub, value[key], at);
      }
      return out;
    }
  }
}

/** Validates a raw input; throws an InputError naming the first bad field. */
export function parsePipelineInput(raw: unknown): PipelineInput {
  if (!isObject(raw)) throw new InputError('invalid pipeline input: expected a JSON object like {"objective": "..."}', '(input)');
  return check(PIPELINE_INPUT_RULES, raw, '') as PipelineInput;
}

/** The contract's defaults, for the moment before the worker's environment-derived ones arrive. */
export const CONTRACT_DEFAULTS: PipelineDefaults = {
  autoContinue: true,
  mode: 'local',
  model: 'anthropic/claude-sonnet-4',
  timeoutSeconds: 120,
  thresholds: { stuckSeconds: 30, conflictCount: 3, complexity: 0.8 },
  maxRounds: 8,
  budgets: { tokens: 100_000, errors: { total: 8, same: 2, violations: 1 }, costUsd: 5 },
  recoveryWindowSeconds: 86_400,
  approvalWindowSeconds: 604_800,
};

/** Fills the input's gaps with the worker's defaults. */
export function resolveSettings(input: PipelineInput, pipelineId: string, defaults: PipelineDefaults): PipelineSettings {
  return {
    pipelineId,
    objective: input.objective.trim(),
    autoContinue: input.autoContinue ?? defaults.autoContinue,
    mode: input.mode ?? defaults.mode,
    model: input.model ?? defaults.model,
    ...(input.models && Object.keys(input.models).length ? { models: { ...input.models } } : {}),
    timeoutSeconds: input.timeoutSeconds ?? defaults.timeoutSeconds,
    thresholds: { ...defaults.thresholds, ...input.thresholds },
    maxRounds: input.maxRounds ?? defaults.maxRounds,
    budgets: {
      tokens: input.budgets?.tokens ?? defaults.budgets.tokens,
      errors: { ...defaults.budgets.errors, ...input.budgets?.errors },
      costUsd: input.budgets?.costUsd ?? defaults.budgets.costUsd,
    },
    recoveryWindowSeconds: defaults.recoveryWindowSeconds,
    approvalWindowSeconds: input.approvalWindowSeconds ?? defaults.approvalWindowSeconds,
    ...(defaults.llmCalls ? { llmCalls: defaults.llmCalls } : {}),
    scenario: input.scenario ?? 'consensus',
    latencyMs: input.latencyMs ?? 0,
  };
}
