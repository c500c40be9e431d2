import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  setHandler,
  startChild,
  uuid4,
  type ChildWorkflowHandle,
  type ExternalWorkflowHandle,
} from '@temporalio/workflow';
import { AGENT_WORKFLOW_TYPE, agentWorkflowId } from '../common/ids';
import { addCost, costOverrun } from '../governance/costBudget';
import { clipObjective } from '../common/text';
import { agentProgressSignal, agentTurnResultSignal, agentTurnSignal, type AgentProgress, type AgentTurn, type AgentTurnResult } from '../common/messages';
import { ROLES, type AgentPhase, type AgentView, type BreakerView, type CallRecord, type GammaReason, type Role } from '../common/types';
import type { agentWorkflow, AgentWorkflowResult } from './agent';
import { PATCHES } from './patches';
import type { PipelineState } from './pipelineState';

// The channel between the pipeline and its agents (each a child workflow). Pipeline side: starting an
// agent, RUN's one call, and in ORCHESTRATE a turn (the agentTurn signal out, the agentTurnResult
// signal back: reply, or nothing when the agent ended or the orchestration closed), finish or
// cancel, and the agentProgress signal. Child side: the inbox of turns and the signals back. Every
// message between agents is thus in Temporal's history. This file is the only writer of the agents'
// views, the turn ids and replies, the busy/ended/revoked flags, and every call's usage.
// Anyone with a Temporal client can signal the pipeline, so each child gets a key in its input (a
// random id, deterministic for replay) that its signals carry back: a signal without the key of one
// of this pipeline's own children, or a reply to a turn that is not open, is dropped with a log line.

type Handle = ChildWorkflowHandle<typeof agentWorkflow>;
/** What the next run needs of the agents when the pipeline continues as new (workflows/carry.ts). */
export interface AgentsCarry {
  views: AgentView[];
  tokens: number;
  costUsd?: number;
  breaker: BreakerView | null;
}
export type TurnRequest = Omit<AgentTurn, 'turnId' | 'orchestration'>;

const PHASE_LABEL: Record<AgentPhase, string> = { run: 'run', orch: 'orchestration' };
const RUNTIME: Record<Role, string> = { alpha: 'temporal:research', beta: 'temporal:synthesis', gamma: 'temporal:mediator' };

export class AgentChannel {
  private readonly byId = new Map<string, AgentView>();
  /** Each child's key, by its workflow id (the latest child under that id: a rerun gives a new one). */
  private readonly keys = new Map<string, string>();
  /**
   * Tokens of every call of the run. Summed here, not from the agents' views: a `recover` rerun starts
   * agents under the same ids, whose views replace the first orchestration's.
   */
  tokens = 0;
  /** What every call of the run cost (USD, as reported), summed like the tokens. */
  costUsd = 0;
  /** Told once, when the calls have spent the pipeline's cost budget (the pipeline then stops). */
  onCostSpent?: (reason: string) => void;
  private costSpent = false;
  /** The shared LLM breaker as the latest call of any agent saw it. */
  breaker: BreakerView | null = null;
  private turns: TurnChannel | null = null;

  constructor(private readonly s: PipelineState) {}

  views(): AgentView[] {
    return [...this.byId.values()];
  }

  view(id: string): AgentView | undefined {
    return this.byId.get(id);
  }

  /** What the next run needs when the pipeline continues as new (workflows/carry.ts). */
  snapshot(): AgentsCarry {
    return { views: this.views(), tokens: this.tokens, costUsd: this.costUsd, breaker: this.breaker };
  }

  restore(c: AgentsCarry): void {
    for (const v of c.views) this.byId.set(v.id, v);
    this.tokens = c.tokens;
    // A rerun spends the same budget: what the first run's calls cost counts (absent in carries of 0.2.0).
    this.costUsd = c.costUsd ?? 0;
    this.breaker = c.breaker;
  }

  /**
   * Starts an agent child: business id, a static summary the Web UI shows, its view, the agent_spawned
   * event. `cancelOnClose`: the agent is asked to end (cancelled) if the pipeline closes before it has.
   */
  async start(role: Role, phase: AgentPhase, gammaReason?: GammaReason, cancelOnClose = false, firstTurn?: AgentTurn): Promise<Handle> {
    const { pipelineId, objective, budgets } = this.s.settings;
    const id = agentWorkflowId(pipelineId, phase, role);
    const view: AgentView = { id, role, phase, status: 'STARTING', errors: 0, tokens: 0, violations: 0, budget: { ...budgets.errors, tokens: budgets.tokens } };
    this.byId.set(id, view);
    const key = uuid4();
    this.keys.set(id, key);
    const objectiveShort = clipObjective(objective);
    const { mode, model, models, scenario, latencyMs, llmCalls } = this.s.settings;
    // By name: the agent workflow imports this file for its side of the channel (no import cycle).
    const handle = await startChild<typeof agentWorkflow>(AGENT_WORKFLOW_TYPE, {
      workflowId: id,
      staticSummary: `${role.toUpperCase()} · ${PHASE_LABEL[phase]} · ${objectiveShort}`,
      staticDetails: `Agent **${role.toUpperCase()}** of pipeline \`${pipelineId}\`${gammaReason ? `, spawned for ${gammaReason}` : ''}.`,
      ...(cancelOnClose ? { parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL } : {}),
      args: [
        {
          pipelineId,
          role,
          phase,
          objective,
          llm: { mode, model, ...(models ? { models } : {}), scenario, latencyMs, ...(llmCalls ? { calls: llmCalls } : {}) },
          budget: { errors: budgets.errors, tokens: budgets.tokens },
          gammaReason,
          key,
          ...(phase === 'orch' && this.s.findings ? { findings: this.s.findings } : {}),
          ...(firstTurn ? { firstTurn } : {}),
        },
      ],
    });
    view.status = 'RUNNING';
    this.s.outbox.emit('agent_spawned', { agent_id: id, role: role.toUpperCase(), runtime: RUNTIME[role], phase });
    this.s.touch();
    handle.result().then(
      (r) => {
        Object.assign(view, { status: r.revoked ? 'REVOKED' : 'COMPLETED', tokens: r.tokens, errors: r.errors, violations: r.violations });
        if (r.revoked) view.revokedReason = r.revoked.reason;
      },
      (err: unknown) => {
        if (view.status !== 'REVOKED') view.status = isCancellation(err) ? 'CANCELLED' : 'FAILED';
      },
    );
    return handle;
  }

  /** RUN: an agent makes its one call and ends; its usage and the breaker it saw are recorded. */
  async runOnce(role: Role): Promise<AgentWorkflowResult> {
    const r = await (await this.start(role, 'run')).result();
    this.account(r.calls, r.breaker);
    return r;
  }

  /** True when a signal comes from this pipeline's own child `agentId` (its key); logs and drops it otherwise. */
  private fromChild(signal: string, agentId: unknown, key: unknown): boolean {
    if (typeof agentId === 'string' && typeof key === 'string' && this.keys.get(agentId) === key) return true;
    log.warn(`dropped a ${signal} signal that is not from one of this pipeline's agents`, {
      pipelineId: this.s.settings.pipelineId,
      claimed: typeof agentId === 'string' ? agentId.slice(0, 200) : typeof agentId,
    });
    return false;
  }

  /** The agentProgress signal: an agent's counts after a failed try, before its turn ends. */
  onProgress(raw: unknown): void {
    const p = (raw ?? {}) as Partial<AgentProgress>;
    if (!this.fromChild('agentProgress', p.agentId, p.key)) return;
    if (![p.tokens, p.errors, p.violations].every((n) => typeof n === 'number' && Number.isFinite(n))) return;
    const view = this.byId.get(p.agentId!);
    if (view) Object.assign(view, { tokens: p.tokens, errors: p.errors, violations: p.violations });
    this.observe(p.breaker);
  }

  /** One orchestration's turns (a `recover` rerun opens another); replies go to the latest. */
  openTurns(attempt: number): TurnChannel {
    return (this.turns = new TurnChannel(this.s, this, attempt));
  }

  /** The agentTurnResult signal: only from the orchestration agent it names, for a turn that is open. */
  onReply(raw: unknown): void {
    const reply = (raw ?? {}) as Partial<AgentTurnResult>;
    const from = ROLES.includes(reply.from as Role) ? (reply.from as Role) : undefined;
    const agentId = from ? agentWorkflowId(this.s.settings.pipelineId, 'orch', from) : String(reply.from);
    if (!this.fromChild('agentTurnResult', agentId, reply.key)) return;
    if (typeof reply.turnId !== 'string' || !this.turns?.onReply(reply as AgentTurnResult)) {
      log.warn('dropped an agentTurnResult for a turn that is not open', {
        pipelineId: this.s.settings.pipelineId,
        agentId,
        turnId: String(reply.turnId).slice(0, 80),
      });
    }
  }

  /**
   * Ends the latest orchestration's agents (idle ones told to finish) and resolves when they have
   * ended; undefined when none ran. A rerun waits for this: its agents take the same ids.
   */
  windDown(): Promise<void> | undefined {
    return this.turns?.windDown();
  }

  /**
   * What the pipeline's end waits for: the agents that were busy when the orchestration closed have
   * ended; the idle ones end with the pipeline (PATCHES.agentsEndWithPipeline). Without the patch,
   * every agent, as `windDown`.
   */
  get settled(): Promise<void> | undefined {
    return this.turns?.settled;
  }

  /** Every answered call reaches the ledger, the run's tokens and its agent's usage through here. */
  account(calls: readonly CallRecord[] | undefined, breaker?: BreakerView): void {
    this.observe(breaker);
    if (!calls?.length) return;
    this.s.outbox.recordCalls(calls);
    for (const c of calls) {
      this.tokens += c.totalTokens;
      if (c.costUsd !== undefined) this.costUsd = addCost(this.costUsd, c.costUsd);
      const view = this.byId.get(c.agentId);
      if (!view) continue;
      const u = (view.usage ??= { promptTokens: 0, completionTokens: 0, calls: 0 });
      u.promptTokens += c.promptTokens;
      u.completionTokens += c.completionTokens;
      u.calls += 1;
      if (c.costUsd !== undefined) u.costUsd = addCost(u.costUsd ?? 0, c.costUsd);
    }
    // Not once the pipeline has ended: a late reply's cost is recorded, but there is nothing left to stop.
    const overrun = this.costSpent || this.s.phase === 'COMPLETE' ? null : costOverrun(this.costUsd, this.s.settings.budgets.costUsd);
    if (overrun) {
      this.costSpent = true;
      this.s.outbox.emit('agent_message', { from: 'PIPELINE', to: 'ALL', content: `${overrun}: the pipeline stops` });
      this.onCostSpent?.(overrun);
    }
  }

  /** Keeps the newest observation of the breaker (agents report theirs after each call). */
  private observe(b: BreakerView | undefined): void {
    if (b && (!this.breaker || b.observedAt >= this.breaker.observedAt)) this.breaker = b;
  }
}

interface LiveAgent {
  handle: Handle;
  scope: CancellationScope;
  ended: boolean;
  busy: boolean;
  revoked: boolean;
}

/** The pipeline side of one orchestration's turns. */
export class TurnChannel {
  private readonly agents = new Map<Role, LiveAgent>();
  private readonly replies = new Map<string, AgentTurnResult>();
  /** The turns handed out and not answered yet, with the role each was handed to. */
  private readonly open = new Map<string, Role>();
  /** Set when the orchestration ends: a reply that arrives later (a review overtaken by consensus) changes nothing. */
  private closed = false;
  /** Every agent of this orchestration has ended, once it is closed (see `windDown`). */
  private ended: Promise<void> | null = null;
  /** The agents that were busy (cancelled) or revoked when it closed have ended, once it is closed. */
  private busyEnded: Promise<void> | null = null;
  /** PATCHES.quickEnd, decided once when the orchestration starts (before its agents). */
  readonly quickEnd = patched(PATCHES.quickEnd);
  /** A turn handed to an agent in its start input (PATCHES.firstTurnInInput), by role, until it is asked for. */
  private readonly preloaded = new Map<Role, string>();
  /** Review turns offered to a proposer to hand out itself (PATCHES.directReview), until its answer says. */
  private readonly reserved = new Map<string, { to: Role; by: Role; round: number }>();
  /** Review turns a proposer did hand to their reviewer, with the reviewer, until asked for. */
  private readonly handed = new Map<string, Role>();
  /** The turns an `ask` waits for: a reply to any other one at close is nobody's but must still be accounted. */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly s: PipelineState,
    private readonly channel: AgentChannel,
    private readonly attempt: number,
  ) {}

  /** The agents that can still take a turn. */
  get active(): Role[] {
    return [...this.agents.entries()].filter(([role, a]) => (!a.ended || this.answeredHanded(role)) && !a.revoked).map(([role]) => role);
  }

  /**
   * A reviewer that answered a turn its proposer handed it, and then ended (a revoked one ends after
   * its reply), before the pipeline took the proposer's answer: its reply is still to be taken.
   */
  private answeredHanded(role: Role): boolean {
    return [...this.handed].some(([turnId, to]) => to === role && this.replies.has(turnId));
  }

  has(role: Role): boolean {
    return this.agents.has(role);
  }

  /** Starts an orchestration agent; `firstTurn`: its first turn, in its input (ask() for it sends nothing). */
  async start(role: Role, gammaReason?: GammaReason, firstTurn?: TurnRequest): Promise<void> {
    const scope = new CancellationScope();
    let turn: AgentTurn | undefined;
    if (firstTurn) {
      turn = { ...firstTurn, turnId: this.turnId(role, firstTurn), orchestration: this.attempt };
      this.open.set(turn.turnId, role);
      this.preloaded.set(role, turn.turnId);
    }
    const handle = await scope.run(() => this.channel.start(role, 'orch', gammaReason, this.quickEnd, turn));
    const agent: LiveAgent = { handle, scope, ended: false, busy: !!turn, revoked: false };
    this.agents.set(role, agent);
    handle.result().then(
      () => void (agent.ended = true),
      () => void (agent.ended = true),
    );
  }

  private turnId(role: Role, turn: Pick<TurnRequest, 'round' | 'action'>): string {
    return `o${this.attempt}-r${turn.round}-${role}-${turn.action}`;
  }

  /**
   * A review turn a proposer is offered to hand out itself (workflows/directReview.ts): its id, open
   * from now, so the reviewer's reply is taken even if it comes before the proposer's.
   */
  reserveReview(role: Role, round: number, proposer: Role): string {
    const turnId = this.turnId(role, { round, action: 'evaluate' });
    this.open.set(turnId, role);
    this.reserved.set(turnId, { to: role, by: proposer, round });
    return turnId;
  }

  /**
   * The proposer's answer for `round` is in, saying it handed the review to `role` (or undefined: it
   * did not). True when that review was offered: asking for it then waits for the reply without sending
   * the turn. Decided on what was reserved, not on the turn in hand: the first round's turn went in the
   * proposer's input, and was built before its agents started.
   */
  handedOver(round: number, role: Role | undefined): boolean {
    const offered = [...this.reserved].filter(([, r]) => r.round === round);
    for (const [turnId] of offered) this.reserved.delete(turnId);
    const turnId = role ? this.turnId(role, { round, action: 'evaluate' }) : undefined;
    if (!role || !turnId || !offered.some(([t, r]) => t === turnId && r.to === role)) return false;
    if (this.open.get(turnId) !== role && !this.replies.has(turnId)) return false; // answered and taken already
    this.handed.set(turnId, role);
    const agent = this.agents.get(role)!;
    if (!agent.ended) {
      agent.busy = true; // a stop cancels it as any busy agent
      this.channel.view(agent.handle.workflowId)!.status = 'RUNNING';
    }
    return true;
  }

  /**
   * The agentTurnResult signal, from the agent the turn was handed to; false (dropped) for any other
   * (an earlier orchestration's, a repeat, a turn never handed out).
   */
  onReply(reply: AgentTurnResult): boolean {
    if (this.open.get(reply.turnId) !== reply.from) return false;
    this.open.delete(reply.turnId);
    if (!this.closed) this.replies.set(reply.turnId, reply);
    else this.channel.account(reply.calls); // its answer is moot, but the call was made and paid for
    return true;
  }

  /**
   * Hands a turn to an agent and waits for its reply; null when the agent was revoked or ended, or the
   * orchestration closed first. A reply that revokes the agent marks it here; the caller governs the rest.
   */
  async ask(role: Role, turn: TurnRequest): Promise<AgentTurnResult | null> {
    const agent = this.agents.get(role);
    const turnId = this.turnId(role, turn);
    // Its proposer sent it the turn; it may have answered (and ended, when revoked) already.
    const handed = this.handed.get(turnId) === role && this.handed.delete(turnId);
    if (!agent || ((agent.ended || agent.revoked) && !(handed && this.replies.has(turnId)))) return null;
    const view = this.channel.view(agent.handle.workflowId)!;
    if (!agent.ended) view.status = 'RUNNING';
    agent.busy = !agent.ended;
    if (this.preloaded.get(role) === turnId)
      this.preloaded.delete(role); // it has the turn already
    else if (!handed) {
      this.open.set(turnId, role);
      await agent.handle.signal(agentTurnSignal, { ...turn, turnId, orchestration: this.attempt });
    }
    this.waiting.add(turnId);
    await condition(() => this.replies.has(turnId) || agent.ended || this.closed);
    this.waiting.delete(turnId);
    agent.busy = false;
    if (this.closed && !this.replies.has(turnId)) return null; // the orchestration ended without it
    const reply = this.replies.get(turnId);
    if (!reply) throw ApplicationFailure.nonRetryable(`${role.toUpperCase()} ended before answering turn ${turnId}`, 'AgentEnded');
    this.replies.delete(turnId);
    this.channel.account(reply.calls, reply.breaker);
    Object.assign(view, { status: 'WAITING', tokens: reply.tokens, errors: reply.errors, violations: reply.violations });
    this.s.touch();
    if (reply.revoked) {
      agent.revoked = true;
      Object.assign(view, { status: 'REVOKED', revokedReason: reply.revoked.reason });
    }
    return reply;
  }

  /**
   * Once closed: every agent of this orchestration told to finish (if `close` has not already), and
   * resolves when all have ended. The pipeline writes its result while the agents wind down; a rerun
   * waits for this (its agents take the same ids). With PATCHES.agentsEndWithPipeline the idle agents
   * are told to finish only when this is called.
   */
  windDown(): Promise<void> {
    if (this.closed && !this.ended) this.ended = CancellationScope.nonCancellable(() => this.finishAgents(false));
    return this.ended ?? Promise.resolve();
  }

  /** What the pipeline's end waits for (AgentChannel.settled). */
  get settled(): Promise<void> {
    return this.busyEnded ?? this.windDown();
  }

  /**
   * Ends the orchestration's turns: one still busy (a stalled call) is cancelled, idle agents are told
   * to finish, or with PATCHES.agentsEndWithPipeline left to end with the pipeline (their parent close
   * policy) unless a rerun calls `windDown`.
   */
  close(): void {
    this.closed = true;
    // A reviewer may be working on a review its proposer handed it before the proposer's answer came:
    // busy as far as the end is concerned (cancelled and waited for), unless it turns out idle.
    for (const { to, by } of this.reserved.values()) {
      const reviewer = this.agents.get(to);
      if (this.agents.get(by)?.busy && reviewer && !reviewer.ended) reviewer.busy = true;
    }
    // Replies no `ask` will take (a handed review answered before its proposer): paid for all the same.
    for (const [turnId, reply] of this.replies) {
      if (this.waiting.has(turnId)) continue;
      this.replies.delete(turnId);
      this.channel.account(reply.calls);
    }
    if (this.quickEnd && patched(PATCHES.agentsEndWithPipeline)) {
      this.busyEnded = CancellationScope.nonCancellable(() => this.finishAgents(true));
      // The status the pipeline's record shows for them: asked to end, they complete once it has.
      for (const a of this.agents.values()) if (!a.ended && !a.busy && !a.revoked) this.channel.view(a.handle.workflowId)!.status = 'COMPLETED';
    } else this.ended = CancellationScope.nonCancellable(() => this.finishAgents(false));
  }

  /**
   * `leaveIdle` (PATCHES.agentsEndWithPipeline): an idle agent is left to end with the pipeline; a
   * busy one is cancelled and a revoked one (already returning) waited for, so that no agent's end
   * reaches the pipeline during its last task (the server would refuse that task's completion).
   */
  private async finishAgents(leaveIdle: boolean): Promise<void> {
    const running = [...this.agents.values()].filter((a) => !a.ended && (a.busy || a.revoked || !leaveIdle));
    // All at once: each signal is a round trip through the server, and they do not depend on each other.
    await Promise.all(
      running.map(async (a) => {
        // Left here with `leaveIdle` and not busy: a revoked agent, which ends on its own.
        if (a.busy) a.scope.cancel();
        else if (!leaveIdle)
          await a.handle
            .signal(agentTurnSignal, { turnId: `o${this.attempt}-finish`, round: 0, action: 'finish', orchestration: this.attempt })
            .catch(() => a.scope.cancel());
        await a.handle.result().catch(() => undefined);
      }),
    );
  }
}

/** The child side: the turns its pipeline sends, and the signals back. */
export class ParentLink {
  private readonly inbox: AgentTurn[] = [];

  constructor(
    private readonly parent: ExternalWorkflowHandle,
    private readonly key: string,
    /** The first turn, when the pipeline put it in the agent's input. */
    firstTurn?: AgentTurn,
  ) {
    if (firstTurn) this.inbox.push(firstTurn);
    setHandler(agentTurnSignal, (turn) => void this.inbox.push(turn));
  }

  async nextTurn(): Promise<AgentTurn> {
    await condition(() => this.inbox.length > 0);
    return this.inbox.shift()!;
  }

  reply(result: Omit<AgentTurnResult, 'key'>): Promise<void> {
    return this.parent.signal(agentTurnResultSignal, { ...result, key: this.key });
  }

  /** Failures are rare and the pipeline's status should show them as they happen, not at the turn's end. */
  progress(p: Omit<AgentProgress, 'key'>): void {
    void this.parent.signal(agentProgressSignal, { ...p, key: this.key }).catch(() => undefined);
  }
}
