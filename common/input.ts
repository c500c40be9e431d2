import { z } from 'zod';
import { LLM_MODES, SCENARIOS, type PipelineDefaults, type PipelineInput, type PipelineSettings } from './types';
import { PIPELINE_ID_PATTERN } from './ids';

// The workflow input's schema. Runs inside the workflow sandbox (zod is pure), so a bad input fails
// the workflow at once with a message naming the field, instead of a workflow task retried forever.

const positiveInt = z.number().int().positive();

export const pipelineInputSchema = z
  .object({
    pipelineId: z.string().regex(PIPELINE_ID_PATTERN, 'letters, digits, "_", "-" or "." (at most 100)').optional(),
    objective: z.string().trim().min(1, 'must not be empty').max(4000),
    autoContinue: z.boolean().optional(),
    mode: z.enum(LLM_MODES).optional(),
    model: z.string().min(1).max(200).optional(),
    timeoutSeconds: positiveInt.max(86_400).optional(),
    thresholds: z
      .object({
        stuckSeconds: positiveInt.max(86_400).optional(),
        conflictCount: positiveInt.max(1000).optional(),
        complexity: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
    maxRounds: positiveInt.max(100).optional(),
    budgets: z
      .object({
        tokens: positiveInt.optional(),
        errors: z
          .object({
            total: positiveInt.max(1000).optional(),
            same: positiveInt.max(1000).optional(),
            violations: positiveInt.max(1000).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    scenario: z.enum(SCENARIOS).optional(),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
  })
  .strict();

export class InputError extends Error {
  constructor(
    message: string,
    public readonly field: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/** Validates a raw input; throws an InputError naming the first bad field. */
export function parsePipelineInput(raw: unknown): PipelineInput {
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InputError('invalid pipeline input: expected a JSON object like {"objective": "..."}', '(input)');
  }
  const parsed = pipelineInputSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const path = [...issue.path, ...keys.slice(0, 1)].map(String).join('.') || '(input)';
    const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    throw new InputError(`invalid pipeline input: field "${path}" ${message}`, path);
  }
  return parsed.data as PipelineInput;
}

/** The contract's defaults, for the moment before the worker's environment-derived ones arrive. */
export const CONTRACT_DEFAULTS: PipelineDefaults = {
  autoContinue: true,
  mode: 'local',
  model: 'anthropic/claude-sonnet-4',
  timeoutSeconds: 120,
  thresholds: { stuckSeconds: 30, conflictCount: 3, complexity: 0.8 },
  maxRounds: 8,
  budgets: { tokens: 100_000, errors: { total: 8, same: 2, violations: 1 } },
  recoveryWindowSeconds: 86_400,
};

/** Fills the input's gaps with the worker's defaults. */
export function resolveSettings(input: PipelineInput, pipelineId: string, defaults: PipelineDefaults): PipelineSettings {
  return {
    pipelineId,
    objective: input.objective.trim(),
    autoContinue: input.autoContinue ?? defaults.autoContinue,
    mode: input.mode ?? defaults.mode,
    model: input.model ?? defaults.model,
    timeoutSeconds: input.timeoutSeconds ?? defaults.timeoutSeconds,
    thresholds: { ...defaults.thresholds, ...input.thresholds },
    maxRounds: input.maxRounds ?? defaults.maxRounds,
    budgets: {
      tokens: input.budgets?.tokens ?? defaults.budgets.tokens,
      errors: { ...defaults.budgets.errors, ...input.budgets?.errors },
    },
    recoveryWindowSeconds: defaults.recoveryWindowSeconds,
    scenario: input.scenario ?? 'consensus',
    latencyMs: input.latencyMs ?? 0,
  };
}
