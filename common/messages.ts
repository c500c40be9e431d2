import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  AgentMessage,
  BreakerView,
  CallRecord,
  GammaReason,
  Handoff,
  LlmMode,
  OrchestrationView,
  Proposal,
  RecoverAction,
  Report,
  Role,
  StatusView,
  Vote,
} from './types';

// Every message name users and our own code send, defined once for both sides.

// --- pipelineWorkflow: the public contract ---
export interface SpawnGammaArgs {
  reason?: GammaReason;
  detail?: string;
}
export const spawnGammaSignal = defineSignal<[SpawnGammaArgs?]>('spawnGamma');

export interface StopArgs {
  reason?: string;
}
export const stopSignal = defineSignal<[StopArgs?]>('stop');

// The API's way to send the two signals above: updates whose validators refuse a repeat (GAMMA already
// requested or present in this orchestration, a stop already under way, a finished pipeline). A refused
// update is not written to the history, so no number of API calls can grow it; the signals stay for
// CLI users and the automatic triggers, as the contract says.
export interface GammaRequestResult {
  accepted: true;
  note: string;
}
export const requestGammaUpdate = defineUpdate<GammaRequestResult, [SpawnGammaArgs]>('requestGamma');
export interface StopResult {
  status: 'STOPPING';
}
export const requestStopUpdate = defineUpdate<StopResult, [StopArgs]>('requestStop');

export interface ContinueArgs {
  mode?: LlmMode;
  model?: string;
  timeoutSeconds?: number;
}
export interface ContinueResult {
  status: string;
  mode: LlmMode;
  model: string;
  timeoutSeconds: number;
}
// Declared with one argument for typed clients; the handler also accepts none (`temporal workflow update execute --name continue`).
export const continueUpdate = defineUpdate<ContinueResult, [ContinueArgs]>('continue');

export interface RecoverArgs {
  action: RecoverAction;
}
export interface RecoverResult {
  status: string;
  action: RecoverAction;
}
export const recoverUpdate = defineUpdate<RecoverResult, [RecoverArgs]>('recover');

export const statusQuery = defineQuery<StatusView>('status');
export const reportQuery = defineQuery<Report | null>('report');
export const orchestrationQuery = defineQuery<OrchestrationView>('orchestration');

// --- between the pipeline and its agents (internal) ---
export type TurnAction = 'propose' | 'evaluate' | 'mediate' | 'finish';

/**
 * One turn the pipeline hands an agent: what changed since its last turn (the proposal under review
 * in full, objections, messages for it), the open proposals by title, never the whole conversation.
 * Every part is bounded (common/limits.ts), so a turn stays a few kilobytes whatever the round.
 */
export interface AgentTurn {
  turnId: string;
  round: number;
  action: TurnAction;
  /** The proposals still open, newest last (id, title, complexity). */
  proposals?: Pick<Proposal, 'id' | 'title' | 'complexity' | 'author'>[];
  /** The proposal this turn is about (evaluate, mediate), in full. */
  proposal?: Proposal;
  proposalId?: string;
  /** For a proposer: the reasons of the votes against its latest proposal. */
  objections?: string[];
  /** Messages other agents addressed to this one (or to all) since its last turn. */
  inbox?: Omit<AgentMessage, 'id'>[];
  gammaReason?: GammaReason;
  /** Why GAMMA was called in, in detail (the spawnGamma signal's detail). */
  gammaDetail?: string;
  /** GAMMA's decomposition, for a proposer working through it. */
  subproblems?: string[];
  /** Which orchestration (1, then 2... after a recover rerun). */
  orchestration: number;
  /** For a proposer: hand the review of its proposal straight to the reviewer (workflows/directReview.ts). */
  review?: ReviewOffer;
}

/**
 * What a proposer needs to hand the review of its proposal to the reviewer itself, instead of the
 * pipeline doing it after the proposal reaches it: the review turn's id and what the pipeline would
 * put in it besides the proposal and the proposer's own messages.
 */
export interface ReviewOffer {
  to: Role;
  turnId: string;
  /** The id the pipeline gives the proposal when it posts it. */
  proposalId: string;
  /** The open proposals before this one, newest last (the review turn lists them with the new one). */
  proposals: Pick<Proposal, 'id' | 'title' | 'complexity' | 'author'>[];
  /** The reviewer's unread messages so far. */
  inbox?: Omit<AgentMessage, 'id'>[];
  /** A proposal above this complexity calls GAMMA in before its review: the pipeline hands that review out. */
  maxComplexity: number;
  /** What the pipeline's calls had cost when the turn was handed out, and its budget: a turn that spends it hands nothing out. */
  cost: { spentUsd: number; budgetUsd: number };
}

/**
 * What an agent hands back after a turn. `key` is the one its pipeline gave it in its input: a
 * signal without its child's key (a forgery sent with a Temporal client) is dropped.
 */
export interface AgentTurnResult {
  key: string;
  turnId: string;
  from: Role;
  round: number;
  proposal?: Omit<Proposal, 'id' | 'round' | 'author'>;
  vote?: Omit<Vote, 'agent'>;
  /** Messages to other agents, for the bus (workflows/messageBus.ts). */
  messages?: Pick<AgentMessage, 'to' | 'content'>[];
  subproblems?: string[];
  /** The agent's running totals after this turn. */
  tokens: number;
  errors: number;
  violations: number;
  /** Set when this turn spent the agent's budget: the agent ends after this reply. */
  revoked?: Handoff;
  /** This turn's successful calls' usage, for the ledger. */
  calls?: CallRecord[];
  /** The shared breaker as this turn's last call saw it. */
  breaker?: BreakerView;
  /** The simulator's latency spent on this turn (0 for a real provider), for the LLM critical path. */
  simulatedLatencyMs?: number;
  /** The reviewer this proposer handed its proposal's review to (the turn's `review` offer), if it did. */
  handedTo?: Role;
}
export const agentTurnSignal = defineSignal<[AgentTurn]>('agentTurn');
export const agentTurnResultSignal = defineSignal<[AgentTurnResult]>('agentTurnResult');

/** Sent by an agent mid-turn after a failed call, so the pipeline's status shows errors and the breaker live. */
export interface AgentProgress {
  /** The sender's key, as in AgentTurnResult. */
  key: string;
  agentId: string;
  tokens: number;
  errors: number;
  violations: number;
  breaker?: BreakerView;
}
export const agentProgressSignal = defineSignal<[AgentProgress]>('agentProgress');
