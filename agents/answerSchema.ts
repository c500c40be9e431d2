import { ANSWER_LIMITS as L, DESIGN_SECTIONS } from '../common/limits';
import { MESSAGE_RECIPIENTS } from '../common/types';
import type { AgentTask } from './provider';

// The JSON Schemas sent as `response_format: json_schema` for each task, and each task's max_tokens.
// They describe the shapes agents/parse.ts validates with zod, with the same bounds (common/limits.ts);
// written out by hand because strict structured outputs need every property required and
// `additionalProperties: false`, and the zod side stays lenient (e.g. `messages` optional) for models
// that only follow prompt instructions. Ranges and lengths are in descriptions, not keywords
// (maxLength, maxItems): some providers reject schemas using them, and zod checks them anyway, with
// the one repair request behind it.

type JsonSchema = Record<string, unknown>;

const object = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});
const text = (max: number, what = ''): JsonSchema => ({ type: 'string', description: `${what}${what ? '; ' : ''}at most ${max} characters` });

const summary = object({ summary: text(L.findingsChars) });
const messages: JsonSchema = {
  type: 'array',
  items: object({ to: { type: 'string', enum: [...MESSAGE_RECIPIENTS] }, content: text(L.messageChars) }),
  description: `at most ${L.messages} messages to other agents, each delivered into its recipient's next turn`,
};
const proposal = object({
  proposal: object({
    title: text(L.titleChars),
    summary: text(L.summaryChars, 'the design in a few sentences'),
    design: object(Object.fromEntries(DESIGN_SECTIONS.map((s) => [s, text(L.sectionChars)]))),
    complexity: { type: 'number', description: 'between 0 (trivial) and 1 (very large)' },
  }),
  messages,
});
const voteFields = {
  vote: object({ proposalId: text(L.proposalIdChars), approve: { type: 'boolean' }, reason: text(L.reasonChars) }),
  messages,
};
const vote = object(voteFields);
const mediation = object({
  ...voteFields,
  subproblems: { type: 'array', items: text(L.subproblemChars), description: `at most ${L.subproblems}; empty unless the problem must be decomposed` },
});

const SCHEMAS: Record<AgentTask, JsonSchema> = { research: summary, synthesis: summary, propose: proposal, evaluate: vote, mediate: mediation };

/**
 * The most a task's answer may take. Above what its bounds need (about 4 characters a token), so a
 * valid answer is never cut off; an answer that is cut off fails validation and gets its one repair.
 */
export const MAX_TOKENS: Record<AgentTask, number> = { research: 700, synthesis: 700, propose: 3000, evaluate: 900, mediate: 1200 };

export interface AnswerJsonSchema {
  /** `agent_<task>`: the name providers show in their logs, and the task a fake server can derive. */
  name: string;
  strict: true;
  schema: JsonSchema;
}

export function answerJsonSchema(task: AgentTask): AnswerJsonSchema {
  return { name: `agent_${task}`, strict: true, schema: SCHEMAS[task] };
}
