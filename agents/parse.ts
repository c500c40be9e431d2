import { z } from 'zod';
import { ANSWER_LIMITS as L, DESIGN_SECTIONS, type DesignSection } from '../common/limits';
import { MESSAGE_RECIPIENTS } from '../common/types';
import { ProviderError, type AgentAnswer, type AgentTask } from './provider';

// Validates what a model answered against the task's schema, with the bounds of common/limits.ts.
// Anything else, an answer too long included, is a procedure violation candidate (invalid_output),
// which gets one repair request and is then counted by the governance layer.

const text = (max: number) => z.string().trim().min(1).max(max);
const messages = z
  .array(z.object({ to: z.enum(MESSAGE_RECIPIENTS), content: text(L.messageChars) }))
  .max(L.messages)
  .optional();

const summary = z.object({ summary: text(L.findingsChars) });
const design = z.object(Object.fromEntries(DESIGN_SECTIONS.map((s) => [s, text(L.sectionChars)])) as Record<DesignSection, ReturnType<typeof text>>);
const proposal = z.object({
  proposal: z.object({ title: text(L.titleChars), summary: text(L.summaryChars), design, complexity: z.number().min(0).max(1) }),
  messages,
});
const vote = z.object({
  vote: z.object({ proposalId: text(L.proposalIdChars), approve: z.boolean(), reason: z.string().trim().max(L.reasonChars) }),
  messages,
});
const mediation = vote.partial({ vote: true }).extend({ subproblems: z.array(text(L.subproblemChars)).max(L.subproblems).optional() });

const SCHEMAS = { research: summary, synthesis: summary, propose: proposal, evaluate: vote, mediate: mediation } as const;

export function parseAnswer(task: AgentTask, raw: string): AgentAnswer {
  const cleaned = raw
    .trim()
    .replace(/^```(?:json)?\s*/i, '')
    .replace(/```$/, '')
    .trim();
  let json: unknown;
  try {
    json = JSON.parse(cleaned);
  } catch {
    throw new ProviderError(`model answer for ${task} is not JSON: ${cleaned.slice(0, 120)}`, 'invalid_output');
  }
  const parsed = SCHEMAS[task].safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ProviderError(`model answer for ${task} breaks its schema at "${issue.path.join('.')}": ${issue.message.slice(0, 200)}`, 'invalid_output');
  }
  const answer = parsed.data as AgentAnswer;
  if (answer.messages && !answer.messages.length) delete answer.messages;
  return answer;
}
