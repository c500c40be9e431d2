import type { AgentRequest } from './provider';

// Prompts per role and task. Each prompt carries the objective, the open proposals (ids and titles)
// and the latest feedback only: bounded, not the whole conversation.

const ROLE_BRIEF = {
  alpha: 'You are ALPHA, the research agent: you analyse the objective and propose concrete designs.',
  beta: 'You are BETA, the synthesis agent: you evaluate proposals critically and vote for one only when it is sound.',
  gamma: 'You are GAMMA, the mediator: you unblock, arbitrate and decompose when the other agents cannot agree.',
} as const;

const TASK_FORMAT = {
  research: '{"summary": string (at most 80 words)}',
  synthesis: '{"summary": string (at most 80 words)}',
  propose: '{"proposal": {"title": string, "rationale": string, "complexity": number between 0 and 1}}',
  evaluate: '{"vote": {"proposalId": string, "approve": boolean, "reason": string}, "message": string}',
  mediate: '{"vote": {"proposalId": string, "approve": boolean, "reason": string}, "message": string}',
} as const;

export interface ChatMessage {
  role: 'system' | 'user';
  content: string;
}

export function buildMessages(req: AgentRequest): ChatMessage[] {
  const parts = [`Objective: ${req.objective}`, `Round: ${req.round}`];
  if (req.proposals?.length) {
    parts.push('Open proposals:', ...req.proposals.map((p) => `- ${p.id} by ${p.author.toUpperCase()} (complexity ${p.complexity}): ${p.title}`));
  }
  if (req.proposalId) parts.push(`Proposal under consideration: ${req.proposalId}`);
  if (req.feedback?.length) parts.push('Latest feedback:', ...req.feedback.map((f) => `- ${f}`));
  if (req.gammaReason) parts.push(`You were called in because: ${req.gammaReason}`);
  parts.push(`Task: ${req.task}. Answer with one JSON object and nothing else, of the form ${TASK_FORMAT[req.task]}.`);
  return [
    { role: 'system', content: ROLE_BRIEF[req.role] },
    { role: 'user', content: parts.join('\n') },
  ];
}
