import { clip } from '../common/text';
import type { GammaReason } from '../common/types';
import type { AgentRequest, AgentTask } from './provider';

// Prompts per role and task, built from what changed since the agent's last turn (the latest
// proposals and feedback the request carries) plus the caller's short summary of earlier rounds —
// never the whole conversation. Every part is clipped and every list capped, so a prompt's size has
// a fixed ceiling whatever the round number: cost and latency stay flat over a long orchestration.

export const PROMPT_LIMITS = {
  objectiveChars: 600,
  summaryChars: 800,
  /** Only the latest proposals are listed (plus the one under consideration). */
  proposals: 4,
  titleChars: 160,
  feedback: 3,
  feedbackChars: 400,
  detailChars: 300,
  problemChars: 300,
  subproblems: 8,
  subproblemChars: 200,
} as const;

/**
 * What a prompt is built from: the request, plus two optional fields a caller may add — a short account
 * of earlier rounds, and the detail of the spawnGamma signal. Both are clipped like everything else.
 */
export type PromptRequest = AgentRequest & { summary?: string; gammaDetail?: string };

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const ROLE_BRIEF = {
  alpha: 'You are ALPHA, the research agent of a small design team: you analyse the objective and propose concrete designs.',
  beta: 'You are BETA, the synthesis agent of a small design team: you evaluate proposals critically and approve one only when it is sound.',
  gamma: 'You are GAMMA, the mediator of a small design team: you are called in when ALPHA and BETA cannot progress on their own.',
} as const;

const GAMMA_BRIEF: Record<GammaReason, string> = {
  STUCK:
    'The team has made no progress for a while. Decide whether the proposal under consideration is good enough to adopt; if it is not, say the single next step that unblocks them.',
  CONFLICT: "ALPHA and BETA keep disagreeing. Arbitrate: weigh BETA's objections against the proposal, decide, and explain the decision so both can accept it.",
  COMPLEXITY:
    'The proposal is too complex to adopt as it is. Decompose the problem into sub-problems (at most 8) that can be delivered in stages, and approve the proposal only if it already can be.',
  MANUAL: 'An operator called you in. Review where the team stands, vote on the proposal under consideration and give both agents clear guidance.',
};

const TASK_BRIEF: Record<Exclude<AgentTask, 'mediate'>, string> = {
  research: 'Analyse the objective: the main design options, their trade-offs and the main risk.',
  synthesis: 'Say what success looks like for this objective: the constraints, the quality criteria and what to watch for.',
  propose:
    'Propose one concrete design. If there is feedback, address every point of it and refine; do not repeat a rejected proposal. Complexity is your estimate of the effort, from 0 (trivial) to 1 (very large).',
  evaluate:
    'Evaluate the proposal under consideration. Approve it only if it meets the objective with bounded risk; otherwise say precisely what must change. Your message goes to ALPHA.',
};

const TASK_FORMAT: Record<AgentTask, string> = {
  research: '{"summary": string (at most 80 words)}',
  synthesis: '{"summary": string (at most 80 words)}',
  propose: '{"proposal": {"title": string, "rationale": string, "complexity": number between 0 and 1}}',
  evaluate: '{"vote": {"proposalId": string, "approve": boolean, "reason": string}, "message": string}',
  mediate:
    '{"vote": {"proposalId": string, "approve": boolean, "reason": string}, "message": string, "subproblems": [string] (at most 8; empty unless you decompose the problem)}',
};

function taskBrief(req: PromptRequest): string {
  if (req.task !== 'mediate') return TASK_BRIEF[req.task];
  return GAMMA_BRIEF[req.gammaReason ?? 'MANUAL'];
}

function proposalLines(req: PromptRequest): string[] {
  const all = req.proposals ?? [];
  if (all.length === 0) return [];
  let shown = all.slice(-PROMPT_LIMITS.proposals);
  const current = req.proposalId ? all.find((p) => p.id === req.proposalId) : undefined;
  if (current && !shown.includes(current)) shown = [current, ...shown.slice(1)];
  const omitted = all.length - shown.length;
  return [
    omitted > 0 ? `Proposals (the latest ${shown.length}; ${omitted} earlier omitted):` : 'Proposals:',
    ...shown.map((p) => `- ${clip(p.id, 40)} by ${p.author.toUpperCase()} (complexity ${p.complexity}): ${clip(p.title, PROMPT_LIMITS.titleChars)}`),
  ];
}

export function buildMessages(req: PromptRequest): ChatMessage[] {
  const parts = [`Objective: ${clip(req.objective, PROMPT_LIMITS.objectiveChars)}`];
  if ((req.orchestration ?? 1) > 1) parts.push(`This is orchestration ${req.orchestration}: the previous one ended without consensus.`);
  if (req.round > 0) parts.push(`Round: ${req.round}`);
  if (req.summary) parts.push(`Earlier rounds, in short: ${clip(req.summary, PROMPT_LIMITS.summaryChars)}`);
  parts.push(...proposalLines(req));
  if (req.proposalId) parts.push(`Proposal under consideration: ${clip(req.proposalId, 40)}`);
  const feedback = (req.feedback ?? []).slice(-PROMPT_LIMITS.feedback);
  if (feedback.length) parts.push('Since your last turn:', ...feedback.map((f) => `- ${clip(f, PROMPT_LIMITS.feedbackChars)}`));
  const subproblems = (req.subproblems ?? []).slice(0, PROMPT_LIMITS.subproblems);
  if (subproblems.length) parts.push('Work through these sub-problems (from GAMMA):', ...subproblems.map((p) => `- ${clip(p, PROMPT_LIMITS.subproblemChars)}`));
  if (req.task === 'mediate') {
    const detail = req.gammaDetail ? ` (${clip(req.gammaDetail, PROMPT_LIMITS.detailChars)})` : '';
    parts.push(`You were called in because: ${req.gammaReason ?? 'MANUAL'}${detail}`);
  }
  // "Task: <name>" stays first on its line: logs and the fake server read the task from it.
  parts.push(`Task: ${req.task}. ${taskBrief(req)}`);
  if (req.repair) parts.push(`Your previous answer to this task broke the protocol: ${clip(req.repair, PROMPT_LIMITS.problemChars)}. Fix that.`);
  parts.push(formatLine(req.task));
  return [
    { role: 'system', content: ROLE_BRIEF[req.role] },
    { role: 'user', content: parts.join('\n') },
  ];
}

function formatLine(task: AgentTask): string {
  return `Answer with one JSON object and nothing else (no prose, no code fences), of the form ${TASK_FORMAT[task]}.`;
}

/** The one follow-up after an unusable answer: what was wrong, and the format again. */
export function repairMessage(task: AgentTask, problem: string): ChatMessage {
  return { role: 'user', content: `Your answer could not be used: ${clip(problem, PROMPT_LIMITS.problemChars)}. ${formatLine(task)}` };
}
