import type { Consensus, GammaReason, Proposal, Vote } from '../common/types';

// When GAMMA, the mediator, is called in (the original SpawnController): STUCK — no progress (no new
// proposal, vote or message) for `stuckSeconds`; CONFLICT — `conflictCount` or more unresolved
// proposals; COMPLEXITY — a proposal whose complexity score is above the threshold. Pure: the
// workflow evaluates these after every change and sends the spawnGamma signal when one fires; the
// STUCK clock is a durable timer there (workflows/gamma.ts).

export interface GammaThresholds {
  stuckSeconds: number;
  conflictCount: number;
  complexity: number;
}

export interface GammaTrigger {
  reason: Exclude<GammaReason, 'MANUAL'>;
  detail: string;
}

/** Proposals nobody has agreed on yet: posted, not the consensus, and not withdrawn. */
export function unresolvedProposals(proposals: readonly Proposal[], consensus: Consensus | null): Proposal[] {
  return proposals.filter((p) => p.id !== consensus?.proposalId);
}

/** COMPLEXITY: strictly above the threshold, as the original design's "score > 0.8". */
export function complexityTrigger(proposal: Proposal, t: GammaThresholds): GammaTrigger | undefined {
  if (proposal.complexity <= t.complexity) return undefined;
  return { reason: 'COMPLEXITY', detail: `${proposal.id} has complexity ${proposal.complexity} > ${t.complexity}` };
}

/** CONFLICT: `conflictCount` or more proposals unresolved at once. */
export function conflictTrigger(proposals: readonly Proposal[], consensus: Consensus | null, t: GammaThresholds): GammaTrigger | undefined {
  const open = unresolvedProposals(proposals, consensus);
  if (open.length < t.conflictCount) return undefined;
  return { reason: 'CONFLICT', detail: `${open.length} unresolved proposals (${open.map((p) => p.id).join(', ')}) ≥ ${t.conflictCount}` };
}

/** STUCK: the time without progress has reached the threshold. */
export function stuckTrigger(msWithoutProgress: number, t: GammaThresholds): GammaTrigger | undefined {
  if (msWithoutProgress < t.stuckSeconds * 1000) return undefined;
  return { reason: 'STUCK', detail: `no new proposal, vote or message for ${Math.round(msWithoutProgress / 1000)}s ≥ ${t.stuckSeconds}s` };
}

/** The triggers that follow a new proposal, in the order they are checked. */
export function triggersAfterProposal(
  proposal: Proposal,
  proposals: readonly Proposal[],
  consensus: Consensus | null,
  t: GammaThresholds,
): GammaTrigger | undefined {
  return complexityTrigger(proposal, t) ?? conflictTrigger(proposals, consensus, t);
}

/** How many approvals each proposal has, for arbitration and partial results. */
export function approvals(proposalId: string, votes: readonly Vote[]): number {
  return votes.filter((v) => v.proposalId === proposalId && v.approve).length;
}
