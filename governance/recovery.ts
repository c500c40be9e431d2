import type { Proposal, RecoverAction, Vote } from '../common/types';
import { approvals } from './gammaTriggers';

// What a pipeline whose orchestration ended without consensus can do next (the `recover` update):
// rerun keeping the blackboard, rerun with GAMMA at once, or accept the best proposal as partial.
// If nobody decides within RECOVERY_WINDOW_SECONDS the pipeline closes as it is.

export interface RecoveryPlan {
  /** Rerun with GAMMA called in at once (otherwise a plain rerun, unless accepting the partial result). */
  gamma: boolean;
  acceptPartial: boolean;
}

export function recoveryPlan(action: RecoverAction): RecoveryPlan {
  switch (action) {
    case 'rerun':
      return { gamma: false, acceptPartial: false };
    case 'rerun_with_gamma':
      return { gamma: true, acceptPartial: false };
    case 'accept_partial':
      return { gamma: false, acceptPartial: true };
  }
}

/** Why recover cannot be accepted now, or undefined when it can. */
export function recoverRejection(status: string, pending: boolean): string | undefined {
  if (status !== 'ORCHESTRATION_FAILED') return `the pipeline is ${status}, not waiting in ORCHESTRATION_FAILED: recover is only accepted there`;
  if (pending) return 'a recover action was already accepted and is being carried out';
  return undefined;
}

/** The best proposal so far: most approvals, then the latest (it carries the most feedback). */
export function bestProposal(proposals: readonly Proposal[], votes: readonly Vote[]): Proposal | null {
  let best: Proposal | null = null;
  for (const p of proposals) {
    if (!best || approvals(p.id, votes) >= approvals(best.id, votes)) best = p;
  }
  return best;
}
