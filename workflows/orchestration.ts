import { ApplicationFailure, CancellationScope, condition, isCancellation, log, sleep, type ChildWorkflowHandle } from '@temporalio/workflow';
import { agentTurnSignal, type AgentTurn, type AgentTurnResult } from '../common/messages';
import type { Proposal, Role, Vote } from '../common/types';
import { checkVote, findConsensus } from '../governance/consensus';
import type { agentWorkflow } from './agent';
import type { AgentStarter } from './agents';
import type { PipelineState } from './pipelineState';

// ORCHESTRATE: rounds in which ALPHA proposes, BETA evaluates and votes, and GAMMA (once spawned)
// mediates with a casting vote, until consensus, the round limit or the deadline. The pipeline holds
// the authoritative proposals and votes; agents exchange them through Temporal signals.

export type OrchestrationOutcome = 'CONSENSUS' | 'NO_CONSENSUS' | 'TIMEOUT';

type Handle = ChildWorkflowHandle<typeof agentWorkflow>;

export class Orchestration {
  private readonly handles = new Map<Role, Handle>();
  private readonly ended = new Set<Role>();
  private readonly replies = new Map<string, AgentTurnResult>();
  private feedback: string[] = [];

  constructor(
    private readonly s: PipelineState,
    private readonly startAgent: AgentStarter,
  ) {}

  /** Delivered by the agentTurnResult signal handler. */
  onReply(reply: AgentTurnResult): void {
    this.replies.set(reply.turnId, reply);
  }

  private get active(): Role[] {
    return [...this.handles.keys()].filter((r) => !this.ended.has(r));
  }

  async run(): Promise<OrchestrationOutcome> {
    const s = this.s;
    s.orchestration.status = 'RUNNING';
    s.emit('orchestration_started', { model: s.settings.mode === 'local' ? 'local simulator' : s.settings.model, mode: s.settings.mode, agents: ['ALPHA', 'BETA'] });
    s.flush();

    const scope = new CancellationScope();
    const deadline = new CancellationScope();
    let timedOut = false;
    deadline
      .run(() => sleep(s.settings.timeoutSeconds * 1000, { summary: `orchestration deadline · ${s.settings.timeoutSeconds}s` }))
      .then(() => {
        timedOut = true;
        scope.cancel();
      })
      .catch(() => undefined); // the deadline was cancelled because orchestration ended first

    try {
      return await scope.run(() => this.rounds());
    } catch (err) {
      if (timedOut && isCancellation(err)) return 'TIMEOUT';
      throw err;
    } finally {
      deadline.cancel();
      await CancellationScope.nonCancellable(() => this.finishAgents());
    }
  }

  private async rounds(): Promise<'CONSENSUS' | 'NO_CONSENSUS'> {
    const s = this.s;
    const [alpha, beta] = await Promise.all([this.startAgent('alpha', 'orch'), this.startAgent('beta', 'orch')]);
    this.track('alpha', alpha);
    this.track('beta', beta);
    // GAMMA starts as soon as it is asked for, also in the middle of a round.
    this.watchGamma().catch((err: unknown) => {
      // Cancellation (stop, deadline) ends the watch; anything else is worth a log line.
      if (!isCancellation(err)) log.warn('GAMMA could not be started', { pipelineId: s.settings.pipelineId, error: String(err) });
    });

    for (let round = 1; round <= s.settings.maxRounds; round++) {
      s.orchestration.round = round;
      s.touch();

      const proposed = await this.ask('alpha', { round, action: 'propose', proposals: this.openProposals(), feedback: this.feedback });
      if (!proposed.proposal) throw ApplicationFailure.nonRetryable(`ALPHA answered round ${round} without a proposal`, 'ProtocolViolation');
      const proposal: Proposal = { ...proposed.proposal, id: `P${s.orchestration.proposals.length + 1}`, round, author: 'alpha' };
      s.orchestration.proposals.push(proposal);
      s.write({ kind: 'proposal', value: proposal });
      s.emit('proposal_posted', { proposal_id: proposal.id, author: 'ALPHA', title: proposal.title, complexity: proposal.complexity, round });
      // The proposer stands behind its own proposal.
      this.vote({ proposalId: proposal.id, agent: 'alpha', approve: true, reason: 'proposer' });
      s.flush();

      const evaluated = await this.ask('beta', { round, action: 'evaluate', proposalId: proposal.id, proposals: this.openProposals() });
      this.takeReply(evaluated, proposal.id);
      this.feedback = evaluated.message ? [evaluated.message.content] : [];

      if (this.handles.has('gamma') && !this.ended.has('gamma') && !this.consensus()) {
        const mediated = await this.ask('gamma', { round, action: 'mediate', proposalId: proposal.id, proposals: this.openProposals(), feedback: this.feedback, gammaReason: s.gammaReason ?? 'MANUAL' });
        this.takeReply(mediated, proposal.id);
      }

      const consensus = this.consensus();
      s.flush();
      if (consensus) {
        s.orchestration.consensus = consensus;
        s.write({ kind: 'consensus', value: consensus });
        s.emit('consensus_reached', { proposal_id: consensus.proposalId, votes: consensus.votes.map((v) => ({ agent: v.agent.toUpperCase(), approve: v.approve })) });
        s.flush();
        return 'CONSENSUS';
      }
    }
    return 'NO_CONSENSUS';
  }

  private consensus() {
    return findConsensus(this.s.orchestration.proposals, this.s.orchestration.votes, this.active);
  }

  private openProposals(): AgentTurn['proposals'] {
    return this.s.orchestration.proposals.slice(-3).map(({ id, title, complexity, author }) => ({ id, title, complexity, author }));
  }

  private takeReply(reply: AgentTurnResult, proposalId: string): void {
    const s = this.s;
    if (reply.message) {
      const message = { id: `M${s.orchestration.messages.length + 1}`, round: reply.round, from: reply.from, to: reply.message.to, content: reply.message.content };
      s.orchestration.messages.push(message);
      s.write({ kind: 'message', value: message });
      s.emit('agent_message', { from: reply.from.toUpperCase(), to: message.to.toUpperCase(), content: message.content });
    }
    if (reply.vote) {
      if (reply.from === 'beta') s.write({ kind: 'solution', value: { proposalId, by: 'beta', text: reply.vote.reason ?? '' } });
      this.vote({ ...reply.vote, agent: reply.from });
    }
  }

  private vote(vote: Vote): void {
    const s = this.s;
    const check = checkVote(vote, s.orchestration.proposals, s.orchestration.votes, this.active);
    if (!check.ok) {
      s.emit('agent_message', { from: 'PIPELINE', to: vote.agent.toUpperCase(), content: `vote rejected: ${check.reason}` });
      return;
    }
    s.orchestration.votes.push(vote);
    s.write({ kind: 'vote', value: vote });
    s.emit('vote_cast', { agent: vote.agent.toUpperCase(), proposal_id: vote.proposalId, approve: vote.approve, reason: vote.reason ?? '' });
  }

  /** Hands a turn to an agent and waits for its reply (or for the agent to end). */
  private async ask(role: Role, turn: Omit<AgentTurn, 'turnId'>): Promise<AgentTurnResult> {
    const handle = this.handles.get(role);
    if (!handle || this.ended.has(role)) throw ApplicationFailure.nonRetryable(`${role.toUpperCase()} is not running`, 'AgentNotRunning');
    const turnId = `${role}-r${turn.round}-${turn.action}`;
    const view = this.s.agents.get(handle.workflowId)!;
    view.status = 'RUNNING';
    await handle.signal(agentTurnSignal, { ...turn, turnId });
    await condition(() => this.replies.has(turnId) || this.ended.has(role));
    const reply = this.replies.get(turnId);
    if (!reply) throw ApplicationFailure.nonRetryable(`${role.toUpperCase()} ended before answering turn ${turnId}`, 'AgentEnded');
    this.replies.delete(turnId);
    view.status = 'WAITING';
    view.tokens += reply.tokens;
    view.errors += reply.errors;
    this.s.touch();
    if (reply.failure) throw ApplicationFailure.nonRetryable(`${role.toUpperCase()} failed: ${reply.failure}`, 'AgentFailed');
    return reply;
  }

  private track(role: Role, handle: Handle): void {
    this.handles.set(role, handle);
    handle.result().then(
      () => this.ended.add(role),
      () => this.ended.add(role),
    );
  }

  private async watchGamma(): Promise<void> {
    const s = this.s;
    await condition(() => s.gammaPending !== null);
    const { reason, detail } = s.gammaPending!;
    s.gammaPending = null;
    s.gammaSpawned = true;
    s.setGammaReason(reason);
    s.emit('gamma_spawned', { reason, detail: detail ?? null });
    this.track('gamma', await this.startAgent('gamma', 'orch', reason));
    s.flush();
  }

  private async finishAgents(): Promise<void> {
    const running = [...this.handles.entries()].filter(([role]) => !this.ended.has(role));
    await Promise.all(running.map(([, h]) => h.signal(agentTurnSignal, { turnId: 'finish', round: 0, action: 'finish' }).catch(() => undefined)));
    await Promise.all(running.map(([, h]) => h.result().catch(() => undefined)));
  }
}
