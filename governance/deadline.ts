import type { Proposal, Vote } from '../common/types';
import { approvals } from './gammaTriggers';
import { bestProposal } from './recovery';

// The orchestration deadline (the original design's Level 3 recovery): a durable timer of
// `timeoutSeconds` raced against consensus (workflows/orchestration.ts). On expiry the agents are
// cancelled and what they produced is collected into a partial result, without calling the LLM.

/** What the report says of a run stopped at the deadline: why, and the best proposal so far. */
export function partialNotes(proposals: readonly Proposal[], votes: readonly Vote[], why: string): string[] {
  const best = bestProposal(proposals, votes);
  return [why, best ? `best proposal so far: ${best.id} "${best.title}" (${approvals(best.id, votes)} approval(s))` : 'no proposal was posted before the end'];
}

export const deadlineSummary = (timeoutSeconds: number): string => `orchestration deadline · ${timeoutSeconds}s`;
