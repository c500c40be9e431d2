import { CancellationScope, condition, isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { AgentTurnResult, ReviewOffer } from '../common/messages';
import { LOCAL_MODEL, type Handoff, type Proposal, type Role } from '../common/types';
import { deadlineSummary } from '../governance/deadline';
import { triggersAfterProposal, unresolvedProposals } from '../governance/gammaTriggers';
import type { TurnChannel, TurnRequest } from './agentChannel';
import { Ballot } from './ballot';
import { directReviewer, REVIEW_OPEN_PROPOSALS } from './directReview';
import { MessageBus } from './messageBus';
import { PATCHES } from './patches';
import type { PipelineState } from './pipelineState';

// ORCHESTRATE, one orchestration (a `recover` rerun is another): rounds in which the proposer (ALPHA,
// or BETA when ALPHA was revoked) posts a proposal and votes for it, and the reviewers (BETA, and GAMMA
// once spawned) evaluate it in parallel and vote, until consensus (governance/consensus.ts), the round
// limit or the deadline (a durable timer raced against the rounds). The pipeline holds the
// authoritative proposals and votes; the agents answer through the agent channel and talk to each
// other through the message bus, and ALPHA hands its proposal's review to BETA itself when nothing
// can come between them (workflows/directReview.ts).

export type OrchestrationOutcome = 'CONSENSUS' | 'NO_CONSENSUS' | 'TIMEOUT' | 'ALL_REVOKED';

export class Orchestration {
  private readonly turns: TurnChannel;
  private readonly bus: MessageBus;
  private readonly ballot: Ballot;
  /** The reasons of the votes against the latest proposal, for its author's next turn. */
  private objections: string[] = [];

  constructor(
    private readonly s: PipelineState,
    private readonly attempt: number,
    /** Agents revoked in RUN do not take part. */
    private readonly excluded: readonly Role[] = [],
  ) {
    this.turns = s.agents.openTurns(attempt);
    this.bus = new MessageBus(s);
    this.ballot = new Ballot(s, this.turns);
    s.gamma.begin();
  }

  async run(opts: { gammaAtOnce?: boolean } = {}): Promise<OrchestrationOutcome> {
    const { s, turns } = this;
    s.orchestration.status = 'RUNNING';
    s.orchestration.attempt = this.attempt;
    const starting = (['alpha', 'beta'] as const).filter((r) => !this.excluded.includes(r));
    s.outbox.emit('orchestration_started', {
      model: s.settings.mode === 'local' ? LOCAL_MODEL : s.settings.model,
      mode: s.settings.mode,
      agents: starting.map((r) => r.toUpperCase()),
      attempt: this.attempt,
    });
    s.outbox.flush();

    const rounds = new CancellationScope();
    const deadline = new CancellationScope();
    let timedOut = false;
    deadline
      .run(() => sleep(s.settings.timeoutSeconds * 1000, { summary: deadlineSummary(s.settings.timeoutSeconds) }))
      .then(() => {
        timedOut = true;
        rounds.cancel();
      })
      .catch(() => undefined); // the deadline was cancelled because orchestration ended first

    try {
      return await rounds.run(async () => {
        // The proposer (the first of ALPHA and BETA to start) gets its first turn with its start: the
        // next round's (a rerun's rounds go on from the first orchestration's).
        const first = !opts.gammaAtOnce && starting[0] && patched(PATCHES.firstTurnInInput) ? starting[0] : undefined;
        await Promise.all(
          starting.map((role) => turns.start(role, undefined, role === first ? this.proposeTurn(s.orchestration.round + 1, role, starting) : undefined)),
        );
        s.gamma.watchStuck().catch((err: unknown) => this.background('STUCK watch', err));
        s.gamma.join(this.attempt, (reason) => turns.start('gamma', reason)).catch((err: unknown) => this.background('GAMMA start', err));
        if (opts.gammaAtOnce) await s.gamma.fire({ reason: 'MANUAL', detail: `recover: rerun_with_gamma (orchestration ${this.attempt})` });
        return await this.rounds(starting);
      });
    } catch (err) {
      if (timedOut && isCancellation(err)) return 'TIMEOUT';
      throw err;
    } finally {
      s.gamma.end();
      deadline.cancel();
      turns.close(); // not awaited: the pipeline writes its result while the agents wind down
    }
  }

  private background(what: string, err: unknown): void {
    // Cancellation (stop, deadline, the end of the orchestration) ends these; anything else is logged.
    if (!isCancellation(err)) log.warn(`${what} failed`, { pipelineId: this.s.settings.pipelineId, error: String(err) });
  }

  private async rounds(starting: readonly Role[]): Promise<'CONSENSUS' | 'NO_CONSENSUS' | 'ALL_REVOKED'> {
    const s = this.s;
    if (starting.length === 0) return 'ALL_REVOKED';
    for (let i = 1; i <= s.settings.maxRounds; i++) {
      const round = ++s.orchestration.round;
      s.touch();

      const proposal = await this.propose(round);
      if (!proposal) return 'ALL_REVOKED';
      if (this.ballot.settle()) return 'CONSENSUS';

      const trigger = s.gamma.settled
        ? undefined
        : triggersAfterProposal(proposal, s.orchestration.proposals, s.orchestration.consensus, s.settings.thresholds);
      // GAMMA joins before the reviews, so its decomposition or arbitration is part of this round.
      if (trigger) await s.gamma.fire(trigger);
      if (trigger) await s.gamma.arrival();

      await this.review(round, proposal);
      if (this.turns.quickEnd) {
        // Consensus: its events go with the result's, in one batch (PATCHES.quickEnd).
        if (this.ballot.settle()) return 'CONSENSUS';
        s.outbox.flush();
      } else {
        s.outbox.flush();
        if (this.ballot.settle()) return 'CONSENSUS';
      }
      if (!this.turns.active.some((r) => r === 'alpha' || r === 'beta')) return 'ALL_REVOKED';
    }
    return 'NO_CONSENSUS';
  }

  /** The proposer's turn; another agent takes over when the proposer is revoked. Null when none is left. */
  private async propose(round: number): Promise<Proposal | null> {
    const s = this.s;
    for (;;) {
      const author = this.ballot.proposer();
      if (!author) return null;
      const turn = this.proposeTurn(round, author, this.turns.active);
      const reply = await this.ask(author, turn);
      s.llmCriticalPathMs += reply?.simulatedLatencyMs ?? 0;
      // The reviewer has its turn, with its messages so far and the proposer's (workflows/directReview.ts).
      if (reply && this.turns.handedOver(round, reply.handedTo)) this.bus.seen(reply.handedTo!);
      if (!reply?.proposal) continue; // revoked (or ended): the partner takes over
      return this.ballot.post(reply.proposal, round, author, turn.subproblems);
    }
  }

  /**
   * A proposer's turn: the open proposals by title, the objections to its last one, its messages,
   * GAMMA's subproblems, and when it may hand its proposal's review out itself, the offer.
   */
  private proposeTurn(round: number, author: Role, active: readonly Role[]): TurnRequest {
    const subproblems = this.s.orchestration.subproblems.length ? this.s.orchestration.subproblems : undefined;
    const review = this.reviewOffer(round, author, active);
    return {
      round,
      action: 'propose',
      proposals: this.ballot.openProposals(),
      objections: this.objections,
      inbox: this.bus.take(author),
      subproblems,
      ...(review ? { review } : {}),
    };
  }

  /** The offer of workflows/directReview.ts, when the rules there allow it. */
  private reviewOffer(round: number, author: Role, active: readonly Role[]): ReviewOffer | undefined {
    const { s } = this;
    const to = directReviewer({
      author,
      active,
      gammaIdle: !s.gamma.settled,
      unresolvedBefore: unresolvedProposals(s.orchestration.proposals, s.orchestration.consensus).length,
      thresholds: s.settings.thresholds,
    });
    if (!to || !patched(PATCHES.directReview)) return undefined;
    const inbox = this.bus.peek(to);
    return {
      to,
      turnId: this.turns.reserveReview(to, round, author),
      proposalId: this.ballot.nextProposalId(),
      proposals: this.ballot.openProposals(REVIEW_OPEN_PROPOSALS) ?? [],
      ...(inbox ? { inbox } : {}),
      maxComplexity: s.settings.thresholds.complexity,
      cost: { spentUsd: s.agents.costUsd, budgetUsd: s.settings.budgets.costUsd },
    };
  }

  /** Reviewers (BETA, GAMMA) answer in parallel; GAMMA joins mid-round when it is spawned then. */
  private async review(round: number, proposal: Proposal): Promise<void> {
    const asked = new Map<Role, 'waiting' | 'done'>();
    const failures: unknown[] = [];
    let slowest = 0; // reviews run in parallel: the slowest is on the critical path
    const reviewers = () => this.turns.active.filter((r) => r !== proposal.author && r !== 'alpha');
    for (;;) {
      for (const role of reviewers()) {
        if (asked.has(role)) continue;
        asked.set(role, 'waiting');
        const turn: TurnRequest =
          role === 'gamma'
            ? { ...this.reviewTurn(round, proposal, role, 5), action: 'mediate', ...this.s.gamma.brief(), objections: this.ballot.openObjections() }
            : { ...this.reviewTurn(round, proposal, role), action: 'evaluate' };
        this.ask(role, turn).then(
          (reply) => {
            slowest = Math.max(slowest, reply?.simulatedLatencyMs ?? 0);
            asked.set(role, 'done');
          },
          (err: unknown) => void failures.push(err),
        );
      }
      await condition(
        () =>
          failures.length > 0 || this.ballot.consensus() !== null || reviewers().some((r) => !asked.has(r)) || [...asked.values()].every((v) => v === 'done'),
      );
      if (failures.length) throw failures[0];
      if (reviewers().some((r) => !asked.has(r)) && !this.ballot.consensus()) continue; // GAMMA joined: it reviews this proposal too
      this.s.llmCriticalPathMs += slowest;
      this.objections = this.ballot.objectionsTo(proposal.id);
      return; // consensus, or every reviewer answered (or was revoked)
    }
  }

  /** A reviewer's turn: the proposal under review in full, the open ones by title, its messages. */
  private reviewTurn(round: number, proposal: Proposal, role: Role, open = REVIEW_OPEN_PROPOSALS): Omit<TurnRequest, 'action'> {
    return { round, proposalId: proposal.id, proposal, proposals: this.ballot.openProposals(open), inbox: this.bus.take(role) };
  }

  /** A turn through the agent channel, governed: a revocation hands off, an answer is taken in. */
  private async ask(role: Role, turn: TurnRequest): Promise<AgentTurnResult | null> {
    const reply = await this.turns.ask(role, turn);
    if (!reply) return null;
    if (reply.revoked) {
      this.revoke(role, reply.revoked);
      return null;
    }
    this.takeReply(reply, turn.proposalId);
    return reply;
  }

  private takeReply(reply: AgentTurnResult, proposalId: string | undefined): void {
    const s = this.s;
    this.bus.post(reply.from, reply.round, reply.messages);
    if (reply.subproblems?.length) {
      s.orchestration.subproblems = reply.subproblems;
      s.outbox.write({ kind: 'subproblems', value: { by: reply.from, items: reply.subproblems } });
    }
    if (reply.vote) {
      if (reply.from === 'beta' && proposalId) s.outbox.write({ kind: 'solution', value: { proposalId, by: 'beta', text: reply.vote.reason ?? '' } });
      this.ballot.vote({ ...reply.vote, agent: reply.from }, proposalId);
    }
  }

  private revoke(role: Role, handoff: Handoff): void {
    const s = this.s;
    s.recordRevocation(handoff, this.attempt);
    const partner = this.turns.active.filter((r) => r !== 'gamma');
    s.outbox.emit('agent_message', {
      from: 'PIPELINE',
      to: 'ALL',
      content: partner.length
        ? `${role.toUpperCase()} was revoked (${handoff.reason}); ${partner.map((r) => r.toUpperCase()).join(', ')} continues alone`
        : `${role.toUpperCase()} was revoked (${handoff.reason}); no agent is left to continue`,
    });
    s.outbox.flush();
  }
}
