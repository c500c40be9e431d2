import type { AgentAnswer, AgentTask } from '../agents/provider';
import type { Role } from '../common/types';

// The protocol each role must follow. An answer that breaks it gets one repair attempt; breaking it
// again is a procedure violation that counts against the agent's error budget (errorBudget.ts).

/** Which tasks a role may perform. A partner takes over proposing when ALPHA was revoked. */
const ROLE_TASKS: Record<Role, readonly AgentTask[]> = {
  alpha: ['research', 'propose'],
  beta: ['synthesis', 'evaluate', 'propose'],
  gamma: ['mediate'],
};

/** Why an answer breaks the protocol for this task, or undefined when it is fine. */
export function procedureViolation(role: Role, task: AgentTask, answer: AgentAnswer, ctx: { proposalIds: readonly string[] }): string | undefined {
  if (!ROLE_TASKS[role].includes(task)) return `${role.toUpperCase()} may not ${task}`;
  switch (task) {
    case 'research':
    case 'synthesis':
      return answer.summary?.trim() ? undefined : 'the answer has no summary';
    case 'propose':
      if (!answer.proposal) return 'the answer has no proposal';
      if (answer.vote) return 'a proposer may not vote in the same answer';
      if (!(answer.proposal.complexity >= 0 && answer.proposal.complexity <= 1)) return 'complexity must be between 0 and 1';
      return answer.proposal.title.trim() ? undefined : 'the proposal has no title';
    case 'evaluate':
    case 'mediate':
      if (answer.proposal) return `${role.toUpperCase()} may not post a proposal when asked to ${task}`;
      if (!answer.vote) return task === 'mediate' && answer.subproblems?.length ? undefined : 'the answer has no vote';
      return ctx.proposalIds.includes(answer.vote.proposalId) ? undefined : `the vote names unknown proposal ${answer.vote.proposalId}`;
  }
}
