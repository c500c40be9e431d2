import { ApplicationFailure, CancellationScope, condition, isCancellation, log, sleep, type ChildWorkflowHandle } from '@temporalio/workflow';
import { agentTurnSignal, type AgentTurn, type AgentTurnResult } from '../common/messages';
import type { Handoff, Proposal, Role, Vote } from '../common/types';
import { checkVote, findConsensus } from '../governance/consensus';
import { deadlineSummary } from '../governance/deadline';
import { triggersAfterProposal, unresolvedProposals } from '../governance/gammaTriggers';
import type { agentWorkflow } from './agent';
import type { AgentStarter } from './agents';
import { GammaWatch } from './gammaWatch';
import type { PipelineState } from './pipelineState';

// ORCHESTRATE, one orchestration (a `recover` rerun is another): rounds in which the proposer (ALPHA,
// or BETA when ALPHA was revoked) posts a proposal and votes for it, and the reviewers (BETA, and GAMMA
// once spawned) evaluate it in parallel and vote, until consensus (governance/consensus.ts), the round
// limit or the deadline (a durable timer raced against the rounds). The pipeline holds the
// authoritative proposals and votes; the agents get turns and answer through Temporal signals.

export type OrchestrationOutcome = 'CONSENSUS' | 'NO_CONSENSUS' | 'TIMEOUT' | 'ALL_REVOKED';

type Handle = ChildWorkflowHandle<typeof agentWorkflow>;

interface Agent {
  handle: Handle;
  scope: CancellationScope;
  ended: boolean;
  busy: boolean;
}

export class Orchestration {
  private readonly agents = new Map<Role, Agent>();
  private readonly revoked = new Set<Role>();
  private readonly replies = new Map<string, AgentTurnResult>();
  private readonly gamma: GammaWatch;
  private feedback: string[] = [];
  /**
   * Resolves when every agent of this orchestration has ended. Not awaited by run(): the pipeline
   * writes its result while the agents wind down, and waits for this before it completes (or reruns).
   */
  finished: Promise<void> = Promise.resolve();

  constructor(
    private readonly s: PipelineState,
    private readonly startAgent: AgentStarter,
    private readonly attempt: number,
    /** Agents revoked in RUN do not take part. */
    private readonly excluded: readonly Role[] = [],
  ) {
    this.gamma = new GammaWatch(s);
  }

  /** Set when run() ends: a reply that arrives later (a review overtaken by consensus) changes nothing. */
  private closed = false;

  /** Delivered by the agentTurnResult signal handler; replies from an earlier orchestration are dropped. */
  onReply(reply: AgentTurnResult): void {
    if (!reply.turnId.startsWith(`o${this.attempt}-`)) return;
    if (!this.closed) this.replies.set(reply.turnId, reply);
    else this.s.recordCalls(reply.calls); // its answer is moot, but the call was made and paid for
  }

  private get active(): Role[] {
    return [...this.agents.entries()].filter(([role, a]) => !a.ended && !this.revoked.has(role)).map(([role]) => role);
  }

  async run(opts: { gammaAtOnce?: boolean } = {}): Promise<OrchestrationOutcome> {
    const s = this.s;
    s.orchestration.status = 'RUNNING';
    s.orchestration.attempt = this.attempt;
    const starting = (['alpha', 'beta'] as const).filter((r) => !this.excluded.includes(r));
    s.emit('orchestration_started', {
      model: s.settings.mode === 'local' ? 'local simulator' : s.settings.model,
      mode: s.settings.mode,
      agents: starting.map((r) => r.toUpperCase()),
      attempt: this.attempt,
    });
    s.flush();

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
        await Promise.all(starting.map((role) => this.start(role)));
        this.gamma.watchStuck().catch((err: unknown) => this.background('STUCK watch', err));
        this.watchGamma().catch((err: unknown) => this.background('GAMMA start', err));
        if (opts.gammaAtOnce) await this.gamma.fire({ reason: 'MANUAL', detail: `recover: rerun_with_gamma (orchestration ${this.attempt})` });
        return await this.rounds(starting);
      });
    } catch (err) {
      if (timedOut && isCancellation(err)) return 'TIMEOUT';
      throw err;
    } finally {
      this.gamma.stopped = true;
      this.closed = true;
      deadline.cancel();
      this.finished = CancellationScope.nonCancellable(() => this.finishAgents());
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
      if (this.settle()) return 'CONSENSUS';

      const trigger = this.gamma.settled
        ? undefined
        : triggersAfterProposal(proposal, s.orchestration.proposals, s.orchestration.consensus, s.settings.thresholds);
      // GAMMA joins before the reviews, so its decomposition or arbitration is part of this round.
      if (trigger) await this.gamma.fire(trigger);
      if (trigger) await condition(() => this.agents.has('gamma') || (!s.gammaPending && !s.gammaThisOrchestration), '30s');

      await this.review(round, proposal);
      s.flush();
      if (this.settle()) return 'CONSENSUS';
      if (!this.active.some((r) => r === 'alpha' || r === 'beta')) return 'ALL_REVOKED';
    }
    return 'NO_CONSENSUS';
  }

  /** The proposer's turn; another agent takes over when the proposer is revoked. Null when none is left. */
  private async propose(round: number): Promise<Proposal | null> {
    const s = this.s;
    for (;;) {
      const author = (['alpha', 'beta'] as const).find((r) => this.active.includes(r));
      if (!author) return null;
      const subproblems = s.orchestration.subproblems.length ? s.orchestration.subproblems : undefined;
      const reply = await this.ask(author, { round, action: 'propose', proposals: this.openProposals(), feedback: this.feedback, subproblems });
      s.llmCriticalPathMs += reply?.simulatedLatencyMs ?? 0;
      if (!reply?.proposal) continue; // revoked (or ended): the partner takes over
      const proposal: Proposal = { ...reply.proposal, id: `P${s.orchestration.proposals.length + 1}`, round, author, ...(subproblems ? { subproblems } : {}) };
      s.orchestration.proposals.push(proposal);
      s.write({ kind: 'proposal', value: proposal });
      s.emit('proposal_posted', { proposal_id: proposal.id, author: author.toUpperCase(), title: proposal.title, complexity: proposal.complexity, round });
      this.gamma.markProgress();
      // The proposer stands behind its own proposal.
      this.vote({ proposalId: proposal.id, agent: author, approve: true, reason: 'proposer' });
      s.flush();
      return proposal;
    }
  }

  /** Reviewers (BETA, GAMMA) answer in parallel; GAMMA joins mid-round when it is spawned then. */
  private async review(round: number, proposal: Proposal): Promise<void> {
    const asked = new Map<Role, 'waiting' | 'done'>();
    const failures: unknown[] = [];
    let slowest = 0; // reviews run in parallel: the slowest is on the critical path
    const reviewers = () => this.active.filter((r) => r !== proposal.author && r !== 'alpha');
    for (;;) {
      for (const role of reviewers()) {
        if (asked.has(role)) continue;
        asked.set(role, 'waiting');
        const turn: Omit<AgentTurn, 'turnId' | 'orchestration'> =
          role === 'gamma'
            ? {
                round,
                action: 'mediate',
                proposalId: proposal.id,
                proposals: this.openProposals(5),
                feedback: this.feedback,
                gammaReason: this.s.gammaReason ?? 'MANUAL',
              }
            : { round, action: 'evaluate', proposalId: proposal.id, proposals: this.openProposals() };
        this.ask(role, turn).then(
          (reply) => {
            slowest = Math.max(slowest, reply?.simulatedLatencyMs ?? 0);
            asked.set(role, 'done');
          },
          (err: unknown) => void failures.push(err),
        );
      }
      await condition(
        () => failures.length > 0 || this.consensus() !== null || reviewers().some((r) => !asked.has(r)) || [...asked.values()].every((v) => v === 'done'),
      );
      if (failures.length) throw failures[0];
      if (reviewers().some((r) => !asked.has(r)) && !this.consensus()) continue; // GAMMA joined: it reviews this proposal too
      this.s.llmCriticalPathMs += slowest;
      return; // consensus, or every reviewer answered (or was revoked)
    }
  }

  /** Records consensus when there is one; true then. */
  private settle(): boolean {
    const s = this.s;
    const consensus = this.consensus();
    if (!consensus) return false;
    s.orchestration.consensus = consensus;
    s.write({ kind: 'consensus', value: consensus });
    s.emit('consensus_reached', {
      proposal_id: consensus.proposalId,
      votes: consensus.votes.map((v) => ({ agent: v.agent.toUpperCase(), approve: v.approve })),
    });
    s.flush();
    return true;
  }

  private consensus() {
    return findConsensus(this.s.orchestration.proposals, this.s.orchestration.votes, this.active);
  }

  private openProposals(n = 3): AgentTurn['proposals'] {
    const o = this.s.orchestration;
    return unresolvedProposals(o.proposals, o.consensus)
      .slice(-n)
      .map(({ id, title, complexity, author }) => ({ id, title, complexity, author }));
  }

  private takeReply(reply: AgentTurnResult, proposalId: string | undefined): void {
    const s = this.s;
    if (reply.message) {
      const message = {
        id: `M${s.orchestration.messages.length + 1}`,
        round: reply.round,
        from: reply.from,
        to: reply.message.to,
        content: reply.message.content,
      };
      s.orchestration.messages.push(message);
      s.write({ kind: 'message', value: message });
      s.emit('agent_message', { from: reply.from.toUpperCase(), to: message.to.toUpperCase(), content: message.content });
      this.gamma.markProgress();
      if (reply.from !== 'alpha') this.feedback = [message.content];
    }
    if (reply.subproblems?.length) {
      s.orchestration.subproblems = reply.subproblems;
      s.write({ kind: 'subproblems', value: { by: reply.from, items: reply.subproblems } });
    }
    if (reply.vote) {
      if (reply.from === 'beta' && proposalId) s.write({ kind: 'solution', value: { proposalId, by: 'beta', text: reply.vote.reason ?? '' } });
      this.vote({ ...reply.vote, agent: reply.from });
    }
  }

  private vote(vote: Vote): void {
    const s = this.s;
    const check = checkVote(vote, s.orchestration.proposals, s.orchestration.votes, this.active);
    if (!check.ok) {
      s.orchestration.rejectedVotes.push({ ...vote, why: check.reason ?? 'rejected', at: s.updatedAt });
      s.emit('agent_message', { from: 'PIPELINE', to: vote.agent.toUpperCase(), content: `vote rejected: ${check.reason}` });
      return;
    }
    s.orchestration.votes.push(vote);
    s.write({ kind: 'vote', value: vote });
    s.emit('vote_cast', { agent: vote.agent.toUpperCase(), proposal_id: vote.proposalId, approve: vote.approve, reason: vote.reason ?? '' });
    this.gamma.markProgress();
  }

  /** Hands a turn to an agent and waits for its reply; null when the agent was revoked or ended. */
  private async ask(role: Role, turn: Omit<AgentTurn, 'turnId' | 'orchestration'>): Promise<AgentTurnResult | null> {
    const agent = this.agents.get(role);
    if (!agent || agent.ended || this.revoked.has(role)) return null;
    const turnId = `o${this.attempt}-r${turn.round}-${role}-${turn.action}`;
    const view = this.s.agents.get(agent.handle.workflowId)!;
    view.status = 'RUNNING';
    agent.busy = true;
    await agent.handle.signal(agentTurnSignal, { ...turn, turnId, orchestration: this.attempt });
    await condition(() => this.replies.has(turnId) || agent.ended || this.closed);
    agent.busy = false;
    if (this.closed && !this.replies.has(turnId)) return null; // the orchestration ended without it
    const reply = this.replies.get(turnId);
    if (!reply) {
      if (this.revoked.has(role)) return null;
      throw ApplicationFailure.nonRetryable(`${role.toUpperCase()} ended before answering turn ${turnId}`, 'AgentEnded');
    }
    this.replies.delete(turnId);
    this.s.observeBreaker(reply.breaker);
    this.s.recordCalls(reply.calls);
    Object.assign(view, { status: 'WAITING', tokens: reply.tokens, errors: reply.errors, violations: reply.violations });
    this.s.touch();
    if (reply.revoked) {
      this.revoke(role, reply.revoked);
      return null;
    }
    this.takeReply(reply, turn.proposalId);
    return reply;
  }

  private revoke(role: Role, handoff: Handoff): void {
    const s = this.s;
    this.revoked.add(role);
    const view = s.agents.get(handoff.agentId);
    if (view) Object.assign(view, { status: 'REVOKED', revokedReason: handoff.reason });
    s.revokeAgent(handoff, this.attempt);
    const partner = this.active.filter((r) => r !== 'gamma');
    s.emit('agent_message', {
      from: 'PIPELINE',
      to: 'ALL',
      content: partner.length
        ? `${role.toUpperCase()} was revoked (${handoff.reason}); ${partner.map((r) => r.toUpperCase()).join(', ')} continues alone`
        : `${role.toUpperCase()} was revoked (${handoff.reason}); no agent is left to continue`,
    });
    s.flush();
  }

  private async start(role: Role): Promise<void> {
    const scope = new CancellationScope();
    const handle = await scope.run(() => this.startAgent(role, 'orch', role === 'gamma' ? (this.s.gammaReason ?? 'MANUAL') : undefined));
    const agent: Agent = { handle, scope, ended: false, busy: false };
    this.agents.set(role, agent);
    handle.result().then(
      () => void (agent.ended = true),
      () => void (agent.ended = true),
    );
  }

  private async watchGamma(): Promise<void> {
    const s = this.s;
    // Ends with this orchestration: a later one has a watch of its own.
    await condition(() => s.gammaPending !== null || this.gamma.stopped);
    if (this.gamma.stopped || !s.gammaPending) return;
    const { reason, detail } = s.gammaPending;
    s.gammaPending = null;
    s.gammaThisOrchestration = true;
    s.gammaSpawned = true;
    s.setGammaReason(reason);
    s.emit('gamma_spawned', { reason, detail: detail ?? null, attempt: this.attempt });
    this.gamma.markProgress();
    await this.start('gamma');
    s.flush();
  }

  /** Idle agents are told to finish; one still busy (a stalled call) is cancelled. */
  private async finishAgents(): Promise<void> {
    const running = [...this.agents.values()].filter((a) => !a.ended);
    // All at once: each signal is a round trip through the server, and they do not depend on each other.
    await Promise.all(
      running.map(async (a) => {
        if (a.busy) a.scope.cancel();
        else
          await a.handle
            .signal(agentTurnSignal, { turnId: `o${this.attempt}-finish`, round: 0, action: 'finish', orchestration: this.attempt })
            .catch(() => a.scope.cancel());
        await a.handle.result().catch(() => undefined);
      }),
    );
  }
}
