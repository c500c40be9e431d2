import type { Proposal, Role, Vote } from '../common/types';
import { checkVote, findConsensus } from '../governance/consensus';
import { unresolvedProposals } from '../governance/gammaTriggers';
import type { TurnChannel, TurnRequest } from './agentChannel';
import type { PipelineState } from './pipelineState';

// The proposals and votes of one orchestration: posting a proposal, counting a vote under the rules
// of governance/consensus.ts (or rejecting and listing it), recording consensus, and what the agents
// are shown of the debate. The only writer of the orchestration record's proposals, votes and consensus.

/** A proposal as it is posted: the answer's draft with its id, round and author (and GAMMA's subproblems it follows). */
export function newProposal(
  draft: Omit<Proposal, 'id' | 'round' | 'author' | 'subproblems'>,
  id: string,
  round: number,
  author: Role,
  subproblems?: string[],
): Proposal {
  return { ...draft, id, round, author, ...(subproblems ? { subproblems } : {}) };
}

/** How a turn lists a proposal that is not under review: by title. */
export const listed = ({ id, title, complexity, author }: Proposal): NonNullable<TurnRequest['proposals']>[number] => ({ id, title, complexity, author });

export class Ballot {
  constructor(
    private readonly s: PipelineState,
    private readonly turns: TurnChannel,
  ) {}

  /** A new proposal, which its author votes for. */
  post(draft: Omit<Proposal, 'id' | 'round' | 'author' | 'subproblems'>, round: number, author: Role, subproblems?: string[]): Proposal {
    const { s } = this;
    const proposal = newProposal(draft, this.nextProposalId(), round, author, subproblems);
    s.orchestration.proposals.push(proposal);
    s.outbox.write({ kind: 'proposal', value: proposal });
    s.outbox.emit('proposal_posted', {
      proposal_id: proposal.id,
      author: proposal.author.toUpperCase(),
      title: proposal.title,
      complexity: proposal.complexity,
      round: proposal.round,
    });
    s.gamma.markProgress();
    // The proposer stands behind its own proposal.
    this.vote({ proposalId: proposal.id, agent: proposal.author, approve: true, reason: 'proposer' }, proposal.id);
    s.outbox.flush();
    return proposal;
  }

  /** The id the next proposal posted gets. */
  nextProposalId(): string {
    return `P${this.s.orchestration.proposals.length + 1}`;
  }

  vote(vote: Vote, underReview: string | undefined): void {
    const { s } = this;
    const check = checkVote(vote, s.orchestration.proposals, s.orchestration.votes, this.turns.active, underReview);
    if (!check.ok) {
      s.orchestration.rejectedVotes.push({ ...vote, why: check.reason ?? 'rejected', at: s.updatedAt });
      s.outbox.emit('agent_message', { from: 'PIPELINE', to: vote.agent.toUpperCase(), content: `vote rejected: ${check.reason}` });
      return;
    }
    s.orchestration.votes.push(vote);
    s.outbox.write({ kind: 'vote', value: vote });
    s.outbox.emit('vote_cast', { agent: vote.agent.toUpperCase(), proposal_id: vote.proposalId, approve: vote.approve, reason: vote.reason ?? '' });
    s.gamma.markProgress();
  }

  consensus() {
    return findConsensus(this.s.orchestration.proposals, this.s.orchestration.votes, this.turns.active);
  }

  /** Records consensus when there is one; true then. */
  settle(): boolean {
    const { s } = this;
    const consensus = this.consensus();
    if (!consensus) return false;
    s.orchestration.consensus = consensus;
    s.outbox.write({ kind: 'consensus', value: consensus });
    s.outbox.emit('consensus_reached', {
      proposal_id: consensus.proposalId,
      votes: consensus.votes.map((v) => ({ agent: v.agent.toUpperCase(), approve: v.approve })),
    });
    // The pipeline ends next: its result goes in the same batch (PATCHES.quickEnd).
    if (!this.turns.quickEnd) s.outbox.flush();
    return true;
  }

  /** The latest proposals nobody has agreed on, by title. */
  openProposals(n = 3): TurnRequest['proposals'] {
    const o = this.s.orchestration;
    return unresolvedProposals(o.proposals, o.consensus).slice(-n).map(listed);
  }

  /** The reasons of the votes against a proposal, for its author's next turn. */
  objectionsTo(proposalId: string): string[] {
    return this.s.orchestration.votes.filter((v) => v.proposalId === proposalId && !v.approve).map((v) => `${v.agent.toUpperCase()}: ${v.reason ?? ''}`);
  }

  /** The state of the debate for GAMMA: the latest objections to the proposals still open. */
  openObjections(): string[] {
    const open = new Set(unresolvedProposals(this.s.orchestration.proposals, this.s.orchestration.consensus).map((p) => p.id));
    return this.s.orchestration.votes
      .filter((v) => open.has(v.proposalId) && !v.approve)
      .slice(-4)
      .map((v) => `${v.agent.toUpperCase()} on ${v.proposalId}: ${v.reason ?? ''}`);
  }

  /** The active agents that may still propose. */
  proposer(): Role | undefined {
    return (['alpha', 'beta'] as const).find((r) => this.turns.active.includes(r));
  }
}
