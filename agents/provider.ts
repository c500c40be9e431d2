import type { BreakerSnapshot, LlmErrorKind } from '../common/failures';
import type { Design } from '../common/limits';
import type { AgentMessage, GammaReason, LlmMode, LlmSettings, MessageRecipient, Proposal, Role } from '../common/types';
import type { Exchange } from './exchange';

// The one small interface every LLM backend implements. Agent logic knows nothing of Temporal: the
// activity in activities/llm.ts turns a ProviderError into the right retry decision.

export type AgentTask = 'research' | 'synthesis' | 'propose' | 'evaluate' | 'mediate';

export interface AgentRequest {
  pipelineId: string;
  role: Role;
  task: AgentTask;
  objective: string;
  round: number;
  /** RUN's findings (ALPHA's research and BETA's success criteria), for every orchestration prompt. */
  findings?: string;
  /** The proposals still open, newest last (id, title, complexity, author). */
  proposals?: Pick<Proposal, 'id' | 'title' | 'complexity' | 'author'>[];
  /** The proposal under review, in full (evaluate, mediate). */
  proposal?: Proposal;
  proposalId?: string;
  /** Objections to the proposer's latest proposal (votes against it, with their reasons). */
  objections?: string[];
  /** Messages other agents addressed to this one (or to all) since its last turn. */
  inbox?: Omit<AgentMessage, 'id'>[];
  gammaReason?: GammaReason;
  /** Why GAMMA was called in, in detail (the spawnGamma signal's detail). */
  gammaDetail?: string;
  /** Sub-problems GAMMA decomposed the objective into, for the proposer to work through. */
  subproblems?: string[];
  /** Which orchestration this is: 1, then 2, 3... after each `recover` rerun. */
  orchestration?: number;
  /** Which try of this call (1 first); the workflow owns retries, so the activity's own attempt stays 1. */
  callAttempt?: number;
  /** Set on the one repair attempt: what was wrong with the previous answer. */
  repair?: string;
}

export interface AgentAnswer {
  summary?: string;
  proposal?: { title: string; summary: string; design: Design; complexity: number };
  vote?: { proposalId: string; approve: boolean; reason: string };
  /** Messages to other agents, delivered into their next turn. */
  messages?: { to: MessageRecipient; content: string }[];
  /** GAMMA's decomposition of a too complex problem. */
  subproblems?: string[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** What the call cost in USD, when the provider reports it (OpenRouter's usage.cost). */
  costUsd?: number;
}

export interface Completion {
  answer: AgentAnswer;
  usage: Usage;
  model: string;
  /** What the simulator waited, so a benchmark can compute the LLM critical path; 0 for real calls. */
  simulatedLatencyMs: number;
}

export interface CallContext {
  attempt: number;
  signal?: AbortSignal;
  heartbeat?: () => void;
  /** Told of every HTTP exchange with the provider, failed ones included, for the call's transcript. */
  onExchange?: (exchange: Exchange) => void;
  /** Told of the answer's text as it streams in, piece by piece (each request's answer from its start). */
  onPartial?: (text: string) => void;
}

export interface LlmProvider {
  readonly mode: LlmMode;
  complete(req: AgentRequest, settings: LlmSettings, ctx: CallContext): Promise<Completion>;
  /** The shared circuit breaker in front of this provider, when there is one (for the status query). */
  breakerState?(): Promise<BreakerSnapshot>;
}

/** The classes are named once, in common/failures.ts, which also says which ones spend the agent's error budget. */
export type ProviderErrorKind = LlmErrorKind;

const RETRYABLE: ReadonlySet<ProviderErrorKind> = new Set(['rate_limited', 'server', 'timeout', 'network', 'conflict', 'circuit_open']);

export class ProviderError extends Error {
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** False when no request reached the provider (e.g. the key could not be read): not the provider's health. */
    readonly fromProvider = true,
  ) {
    super(message);
    this.name = 'ProviderError';
    this.retryable = RETRYABLE.has(kind);
  }
}

/** HTTP status → error class: 408/409/429/5xx retryable, 400/401/403/404/422 not. */
export function kindFromStatus(status: number | undefined): ProviderErrorKind {
  if (status === undefined) return 'network';
  if (status === 408) return 'timeout';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  if (status === 401) return 'auth';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 422) return 'unprocessable';
  return 'bad_request';
}

/** A rough token count for text, for budgets when a provider reports no usage. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);
