import { getExternalWorkflowHandle, isCancellation, log } from '@temporalio/workflow';
import { agentWorkflowId } from '../common/ids';
import { agentTurnSignal, type AgentTurn, type AgentTurnResult, type ReviewOffer } from '../common/messages';
import type { Role } from '../common/types';
import { addCost, costOverrun } from '../governance/costBudget';
import type { GammaThresholds } from '../governance/gammaTriggers';
import { listed, newProposal } from './ballot';
import { inboxOf, sentBy } from './messageBus';

// The proposer hands the review of its proposal to the reviewer itself (PATCHES.directReview): ALPHA,
// its call answered, signals BETA the review turn, then tells the pipeline, which records the proposal
// and waits for BETA's vote as before. One workflow task of the pipeline and a signal fewer between
// the two calls of a round (issue #17). The pipeline still decides: it offers the hand-off only when
// the review would be BETA's alone and nothing it knows of would come between the proposal and its
// review (GAMMA idle and no CONFLICT after this proposal; a COMPLEXITY trigger is checked by the
// proposer; a GAMMA requested meanwhile joins the review, as before), it
// counts the votes and decides consensus, and it hands out every other turn. The review turn is the
// one the pipeline would have sent: the same id, proposal, open proposals and messages.

/** How many open proposals a review turn lists, by title (the one under review included). */
export const REVIEW_OPEN_PROPOSALS = 3;

export interface OfferContext {
  author: Role;
  /** The agents taking part (started, or about to be, for the first round). */
  active: readonly Role[];
  /** GAMMA neither requested nor there. */
  gammaIdle: boolean;
  /** Proposals nobody has agreed on before this one. */
  unresolvedBefore: number;
  thresholds: GammaThresholds;
}

/** The reviewer the proposer may hand its review to, or undefined when the pipeline hands it out. */
export function directReviewer(c: OfferContext): Role | undefined {
  if (c.author !== 'alpha' || !c.active.includes('beta') || c.active.includes('gamma') || !c.gammaIdle) return undefined;
  // CONFLICT would fire once this proposal is posted: GAMMA is called in before the review.
  if (c.unresolvedBefore + 1 >= c.thresholds.conflictCount) return undefined;
  return 'beta';
}

/**
 * The review turn the proposer sends, or undefined when it must not: its proposal calls GAMMA in, or
 * its calls spent the pipeline's cost budget (the pipeline stops on this reply; no review is paid for).
 */
export function reviewTurn(propose: AgentTurn, author: Role, reply: Pick<AgentTurnResult, 'proposal' | 'messages' | 'calls'>): AgentTurn | undefined {
  const offer: ReviewOffer | undefined = propose.review;
  if (!offer || !reply.proposal || reply.proposal.complexity > offer.maxComplexity) return undefined;
  // Summed as the pipeline sums it (AgentChannel.account): nothing else is in flight meanwhile.
  const spent = (reply.calls ?? []).reduce((sum, c) => (c.costUsd === undefined ? sum : addCost(sum, c.costUsd)), offer.cost.spentUsd);
  if (costOverrun(spent, offer.cost.budgetUsd)) return undefined;
  const proposal = newProposal(reply.proposal, offer.proposalId, propose.round, author, propose.subproblems);
  const inbox = inboxOf(offer.to, [...(offer.inbox ?? []), ...sentBy(author, propose.round, reply.messages)]);
  return {
    turnId: offer.turnId,
    round: propose.round,
    action: 'evaluate',
    proposalId: proposal.id,
    proposal,
    proposals: [...offer.proposals, listed(proposal)].slice(-REVIEW_OPEN_PROPOSALS),
    ...(inbox ? { inbox } : {}),
    orchestration: propose.orchestration,
  };
}

/**
 * The proposer's signal to the reviewer; false when it could not be sent (the reviewer not started yet,
 * or ended): the proposer then answers without `handedTo` and the pipeline hands the review out.
 */
export async function handOver(pipelineId: string, to: Role, turn: AgentTurn): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(agentWorkflowId(pipelineId, 'orch', to)).signal(agentTurnSignal, turn);
    return true;
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.info('the review could not be handed to the reviewer; the pipeline hands it out', { pipelineId, to, error: String(err) });
    return false;
  }
}
