import type { Consensus, Proposal, Role, Vote } from '../common/types';

// The consensus rule, pure. A proposal is accepted when every active agent votes for it; with GAMMA
// active, by a majority of the active agents that includes GAMMA's (casting) vote. Only an agent's
// one vote per proposal counts, only while the agent is active, and only for the proposal under review.

export interface VoteCheck {
  ok: boolean;
  reason?: string;
}

/**
 * Why a vote cannot be counted, or ok. A vote counts only for the proposal under review: a reviewer
 * who names another one (an older proposal, a typo) has not judged what it was shown.
 */
export function checkVote(vote: Vote, proposals: readonly Proposal[], votes: readonly Vote[], active: readonly Role[], underReview?: string): VoteCheck {
  if (!proposals.some((p) => p.id === vote.proposalId)) return { ok: false, reason: `unknown proposal ${vote.proposalId}` };
  if (underReview !== undefined && vote.proposalId !== underReview) {
    return { ok: false, reason: `a vote counts only for the proposal under review (${underReview}), not ${vote.proposalId}` };
  }
  if (!active.includes(vote.agent)) return { ok: false, reason: `${vote.agent} is not an active agent` };
  if (votes.some((v) => v.proposalId === vote.proposalId && v.agent === vote.agent)) {
    return { ok: false, reason: `${vote.agent} already voted on ${vote.proposalId}` };
  }
  return { ok: true };
}

export function isAccepted(proposalId: string, votes: readonly Vote[], active: readonly Role[]): boolean {
  const approvals = new Set(votes.filter((v) => v.proposalId === proposalId && v.approve && active.includes(v.agent)).map((v) => v.agent));
  if (active.length === 0) return false;
  if (active.includes('gamma')) return approvals.has('gamma') && approvals.size * 2 > active.length;
  return active.every((r) => approvals.has(r));
}

/** The first proposal (in posting order) that is accepted, with the votes for it. */
export function findConsensus(proposals: readonly Proposal[], votes: readonly Vote[], active: readonly Role[]): Consensus | null {
  const accepted = proposals.find((p) => isAccepted(p.id, votes, active));
  if (!accepted) return null;
  return {
    proposalId: accepted.id,
    title: accepted.title,
    round: accepted.round,
    votes: votes.filter((v) => v.proposalId === accepted.id && active.includes(v.agent)),
  };
}
