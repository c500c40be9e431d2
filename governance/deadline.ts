import type { Proposal, Vote } from '../common/types';
import { approvals } from './gammaTriggers';
import { bestProposal } from './recovery';

// The orchestration deadline (the original design's Level 3 recovery): a durable timer of
// `timeoutSeconds` raced against consensus (workflows/orchestration.ts). On expiry the agents are
// cancelled and what they produced is collected into a partial result, without calling the LLM.

export interface PartialResult {
  best: { proposalId: string; title: string; approvals: number } | null;
  proposals: number;
  votes: number;
  notes: string[];
}

export function partialResult(proposals: readonly Proposal[], votes: readonly Vote[], why: string): PartialResult {
  const best = bestProposal(proposals, votes);
  const notes = [why];
  if (best) notes.push(`best proposal so far: ${best.id} "${best.title}" (${approvals(best.id, votes)} approval(s))`);
  else notes.push('no proposal was posted before the end');
  return {
    best: best ? { proposalId: best.id, title: best.title, approvals: approvals(best.id, votes) } : null,
    proposals: proposals.length,
    votes: votes.length,
    notes,
  };
}

export const deadlineSummary = (timeoutSeconds: number): string => `orchestration deadline · ${timeoutSeconds}s`;
