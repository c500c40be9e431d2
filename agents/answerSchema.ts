import type { AgentTask } from './provider';

// The JSON Schemas sent as `response_format: json_schema` for each task. They describe the same
// shapes agents/parse.ts validates with zod; written out by hand because strict structured outputs
// need every property required and `additionalProperties: false`, and the zod side stays lenient
// (e.g. `message` optional) for models that only follow prompt instructions. Ranges and lengths are
// in descriptions, not keywords (minimum, maxItems): some providers reject schemas using them, and
// zod checks them anyway, with the one repair request behind it.

type JsonSchema = Record<string, unknown>;

const object = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

const summary = object({ summary: { type: 'string', description: 'at most 80 words' } });
const proposal = object({
  proposal: object({
    title: { type: 'string' },
    rationale: { type: 'string' },
    complexity: { type: 'number', description: 'between 0 (trivial) and 1 (very large)' },
  }),
});
const voteFields = {
  vote: object({ proposalId: { type: 'string' }, approve: { type: 'boolean' }, reason: { type: 'string' } }),
  message: { type: 'string' },
};
const vote = object(voteFields);
const mediation = object({
  ...voteFields,
  subproblems: { type: 'array', items: { type: 'string' }, description: 'at most 8; empty unless the problem must be decomposed' },
});

const SCHEMAS: Record<AgentTask, JsonSchema> = { research: summary, synthesis: summary, propose: proposal, evaluate: vote, mediate: mediation };

export interface AnswerJsonSchema {
  /** `agent_<task>`: the name providers show in their logs, and the task a fake server can derive. */
  name: string;
  strict: true;
  schema: JsonSchema;
}

export function answerJsonSchema(task: AgentTask): AnswerJsonSchema {
  return { name: `agent_${task}`, strict: true, schema: SCHEMAS[task] };
}
