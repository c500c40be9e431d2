import { ANSWER_LIMITS, DESIGN_SECTIONS, DESIGN_SECTION_TITLES, INBOX_LIMIT } from '../common/limits';
import { clip } from '../common/text';
import type { GammaReason } from '../common/types';
import type { AgentRequest, AgentTask } from './provider';

// Prompts per role and task, built from what changed since the agent's last turn — the proposal
// under review in full, the objections to the proposer's last design, the messages other agents sent
// it — plus RUN's findings and the open proposals by title; never the whole conversation. Every part
// is clipped to the bounds an answer has (common/limits.ts) and every list capped, so a prompt's size
// has a fixed ceiling whatever the round number: cost and latency stay flat over a long orchestration.

export const PROMPT_LIMITS = {
  objectiveChars: 600,
  /** RUN's findings: ALPHA's research and BETA's success criteria, with their labels. */
  findingsChars: 2 * ANSWER_LIMITS.findingsChars + 100,
  /** Only the latest proposals are listed by title (the one under review is shown in full). */
  proposals: 4,
  titleChars: ANSWER_LIMITS.titleChars,
  objections: 4,
  objectionChars: ANSWER_LIMITS.reasonChars + 40,
  inbox: INBOX_LIMIT,
  messageChars: ANSWER_LIMITS.messageChars,
  detailChars: 300,
  problemChars: 300,
  subproblems: ANSWER_LIMITS.subproblems,
  subproblemChars: ANSWER_LIMITS.subproblemChars,
} as const;

export type PromptRequest = AgentRequest;

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
    'Propose one concrete design for the objective, in sections: approach, components, trade-offs, risks, rollout. Address every objection and answer every question sent to you; do not repeat a rejected design. Complexity is your estimate of the effort, from 0 (trivial) to 1 (very large).',
  evaluate:
    'Evaluate the proposal under review against the objective and the success criteria. Approve it only if it meets them with bounded risk; otherwise say precisely what must change. Vote on the proposal under review only. You may send ALPHA a question or a request.',
};

const L = ANSWER_LIMITS;
const MESSAGES_FORMAT = `"messages": [{"to": "alpha"|"beta"|"gamma"|"all", "content": string (at most ${L.messageChars} characters)}] (at most ${L.messages}; may be empty)`;
const VOTE_FORMAT = `"vote": {"proposalId": string (the proposal under review), "approve": boolean, "reason": string (at most ${L.reasonChars} characters)}`;
const TASK_FORMAT: Record<AgentTask, string> = {
  research: `{"summary": string (at most ${L.findingsChars} characters)}`,
  synthesis: `{"summary": string (at most ${L.findingsChars} characters)}`,
  propose: `{"proposal": {"title": string (at most ${L.titleChars} characters), "summary": string (at most ${L.summaryChars}), "design": {${DESIGN_SECTIONS.map((d) => `"${d}": string`).join(', ')}} (each at most ${L.sectionChars} characters), "complexity": number between 0 and 1}, ${MESSAGES_FORMAT}}`,
  evaluate: `{${VOTE_FORMAT}, ${MESSAGES_FORMAT}}`,
  mediate: `{${VOTE_FORMAT}, ${MESSAGES_FORMAT}, "subproblems": [string] (at most ${L.subproblems}; empty unless you decompose the problem)}`,
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
  if (req.proposal) shown = shown.filter((p) => p.id !== req.proposal!.id); // shown in full below
  if (!shown.length) return [];
  const omitted = all.length - shown.length - (req.proposal ? 1 : 0);
  return [
    omitted > 0 ? `Open proposals (the latest ${shown.length}; ${omitted} earlier omitted):` : 'Open proposals:',
    ...shown.map((p) => `- ${clip(p.id, 40)} by ${p.author.toUpperCase()} (complexity ${p.complexity}): ${clip(p.title, PROMPT_LIMITS.titleChars)}`),
  ];
}

/** The proposal under review, in full: every part clipped to the bound its answer had. */
function proposalInFull(req: PromptRequest): string[] {
  const p = req.proposal;
  if (!p) return req.proposalId ? [`Proposal under review: ${clip(req.proposalId, 40)}`] : [];
  return [
    `Proposal under review: ${clip(p.id, 40)} by ${p.author.toUpperCase()} (round ${p.round}, complexity ${p.complexity}): ${clip(p.title, L.titleChars)}`,
    `  Summary: ${clip(p.summary, L.summaryChars)}`,
    ...DESIGN_SECTIONS.map((d) => `  ${DESIGN_SECTION_TITLES[d]}: ${clip(p.design[d], L.sectionChars)}`),
  ];
}

export function buildMessages(req: PromptRequest): ChatMessage[] {
  const parts = [`Objective: ${clip(req.objective, PROMPT_LIMITS.objectiveChars)}`];
  if (req.findings) parts.push(`What RUN found: ${clip(req.findings, PROMPT_LIMITS.findingsChars)}`);
  if ((req.orchestration ?? 1) > 1) parts.push(`This is orchestration ${req.orchestration}: the previous one ended without consensus.`);
  if (req.round > 0) parts.push(`Round: ${req.round}`);
  parts.push(...proposalLines(req), ...proposalInFull(req));
  const objections = (req.objections ?? []).slice(-PROMPT_LIMITS.objections);
  if (objections.length) parts.push('Objections to the latest proposal:', ...objections.map((o) => `- ${clip(o, PROMPT_LIMITS.objectionChars)}`));
  const inbox = (req.inbox ?? []).slice(-PROMPT_LIMITS.inbox);
  if (inbox.length) {
    parts.push(
      'Messages to you since your last turn:',
      ...inbox.map(
        (m) => `- from ${m.from.toUpperCase()}${m.to === 'all' ? ' to all' : ''} (round ${m.round}): ${clip(m.content, PROMPT_LIMITS.messageChars)}`,
      ),
    );
  }
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
