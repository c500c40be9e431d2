import { z } from 'zod';
import { ProviderError, type AgentAnswer, type AgentTask } from './provider';

// Validates what a model answered against the task's schema. Anything else is a procedure violation
// candidate (invalid_output), which the governance layer counts.

const summary = z.object({ summary: z.string().min(1) });
const proposal = z.object({
  proposal: z.object({ title: z.string().min(1), rationale: z.string().min(1), complexity: z.number().min(0).max(1) }),
});
const vote = z.object({
  vote: z.object({ proposalId: z.string().min(1), approve: z.boolean(), reason: z.string() }),
  message: z.string().optional(),
});

const mediation = vote.partial({ vote: true }).extend({ subproblems: z.array(z.string().min(1)).max(8).optional() });

const SCHEMAS = { research: summary, synthesis: summary, propose: proposal, evaluate: vote, mediate: mediation } as const;

export function parseAnswer(task: AgentTask, text: string): AgentAnswer {
  const cleaned = text
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
    throw new ProviderError(`model answer for ${task} breaks its schema at "${issue.path.join('.')}": ${issue.message}`, 'invalid_output');
  }
  return parsed.data as AgentAnswer;
}
