// The contract's vocabulary (../shared/spec/CONTRACT.md). Imported by workflows, so it must stay
// free of Node builtins and I/O.

import type { Design } from './limits';

export const PHASES = ['SPAWN', 'RUN', 'REPORT', 'ORCHESTRATE', 'COMPLETE'] as const;
export type Phase = (typeof PHASES)[number];

export const STATUSES = [
  'SPAWNING',
  'RUNNING',
  'REPORT',
  'ORCHESTRATING',
  'COMPLETED',
  'FAILED',
  'TIMEOUT',
  'ORCHESTRATION_FAILED',
  'ORCHESTRATION_ERROR',
  'STOPPED',
] as const;
export type PipelineStatusName = (typeof STATUSES)[number];

export const ROLES = ['alpha', 'beta', 'gamma'] as const;
export type Role = (typeof ROLES)[number];
export const AGENT_PHASES = ['run', 'orch'] as const;
export type AgentPhase = (typeof AGENT_PHASES)[number];

export const GAMMA_REASONS = ['STUCK', 'CONFLICT', 'COMPLEXITY', 'MANUAL'] as const;
export type GammaReason = (typeof GAMMA_REASONS)[number];

export const SCENARIOS = ['consensus', 'conflict', 'stuck', 'complex', 'flaky', 'revoked', 'no_consensus'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const LLM_MODES = ['local', 'openrouter'] as const;
/**
 * Where an agent's LLM calls run: `queue`, an activity on a task queue (provider calls on `<queue>-llm`);
 * `worker`, a local activity in the agent's own worker (LLM_CALLS, lib/config.ts).
 */
export const LLM_CALL_PLACES = ['queue', 'worker'] as const;
export type LlmCallPlace = (typeof LLM_CALL_PLACES)[number];
/** What events and views name as the model in local mode: the simulator, not the provider model a later `continue` might switch to. */
export const LOCAL_MODEL = 'local simulator';
export type LlmMode = (typeof LLM_MODES)[number];

/** Models per role; a role not named uses the pipeline's `model`. */
export type RoleModels = Partial<Record<Role, string>>;

export const RECOVER_ACTIONS = ['rerun', 'rerun_with_gamma', 'accept_partial'] as const;
export type RecoverAction = (typeof RECOVER_ACTIONS)[number];

/** The workflow input as a user types it: every field but `objective` optional. */
export interface PipelineInput {
  pipelineId?: string;
  objective: string;
  autoContinue?: boolean;
  mode?: LlmMode;
  model?: string;
  /** A model per role, overriding `model` for that role (openrouter mode). */
  models?: RoleModels;
  timeoutSeconds?: number;
  thresholds?: { stuckSeconds?: number; conflictCount?: number; complexity?: number };
  maxRounds?: number;
  budgets?: { tokens?: number; errors?: { total?: number; same?: number; violations?: number }; costUsd?: number };
  scenario?: Scenario;
  latencyMs?: number;
  /** How long a pipeline waits at REPORT for `continue` before it closes (autoContinue false). */
  approvalWindowSeconds?: number;
}

/** Defaults the worker resolves from its environment (never secrets). */
export interface PipelineDefaults {
  autoContinue: boolean;
  mode: LlmMode;
  model: string;
  timeoutSeconds: number;
  thresholds: { stuckSeconds: number; conflictCount: number; complexity: number };
  maxRounds: number;
  /** costUsd: what the pipeline's LLM calls may cost in all, as the provider reports it (governance/costBudget.ts). */
  budgets: { tokens: number; errors: { total: number; same: number; violations: number }; costUsd: number };
  recoveryWindowSeconds: number;
  approvalWindowSeconds: number;
  /** Where the agents' LLM calls run (LLM_CALLS); absent: as activities on a task queue. */
  llmCalls?: LlmCallPlace;
}

/** The input with every default filled in: what the pipeline actually runs with. */
export interface PipelineSettings extends PipelineDefaults {
  pipelineId: string;
  objective: string;
  /** Only when the input named some. */
  models?: RoleModels;
  scenario: Scenario;
  latencyMs: number;
}

/** What an agent needs to reach its LLM; small, and free of secrets. */
export interface LlmSettings {
  mode: LlmMode;
  model: string;
  /** Per-role models (the input's `models`); the provider uses `models[role]` before `model`. */
  models?: RoleModels;
  scenario: Scenario;
  latencyMs: number;
  /** Absent (every history recorded before LLM_CALLS): activities on a task queue. */
  calls?: LlmCallPlace;
}

export interface AgentView {
  id: string;
  role: Role;
  phase: AgentPhase;
  status: 'STARTING' | 'RUNNING' | 'WAITING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'REVOKED';
  /** Failed LLM attempts so far (violations included). */
  errors: number;
  tokens: number;
  violations: number;
  /** The limits this agent runs under: errors total / same in a row / violations, and tokens. */
  budget: { total: number; same: number; violations: number; tokens: number };
  /** Why the agent was revoked, when it was. */
  revokedReason?: string;
  /** Usage as the provider reported it, summed over this agent's calls (cost only when reported). */
  usage?: { promptTokens: number; completionTokens: number; costUsd?: number; calls: number };
}

/** One successful LLM call's usage, for the ledger's llm_calls table and the agent's state. */
export interface CallRecord {
  /** Unique within the pipeline run: the agent's run id and the call's number in it. */
  key: string;
  agentId: string;
  role: Role;
  task: string;
  round: number;
  /** Which try of the call this was (1 first). */
  attempt: number;
  model: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  costUsd?: number;
  at: string;
}

/** What a revoked agent leaves for the others: what it did, and what is left. */
export interface Handoff {
  agentId: string;
  role: Role;
  reason: string;
  did: string[];
  left: string;
  tokens: number;
  errors: number;
  at: string;
}

export interface GammaView {
  spawned: boolean;
  reason: GammaReason | null;
}

/** The shared LLM circuit breaker (lib/breaker.ts) as this pipeline's calls last saw it. */
export interface BreakerView {
  state: 'closed' | 'open' | 'half_open';
  /** Consecutive provider failures counted so far. */
  failures: number;
  /** When an open breaker lets a probe through (ISO), null when closed. */
  openedUntil: string | null;
  /** When a call of this pipeline read it (ISO). */
  observedAt: string;
}

export interface StatusView {
  pipelineId: string;
  phase: Phase;
  status: PipelineStatusName;
  agents: AgentView[];
  gamma: GammaView;
  /** Null until a call through a breaker (openrouter mode) reported it; updated after every call. */
  breaker: BreakerView | null;
  /** What the pipeline's LLM calls cost so far (USD, as the provider reports it) and its budget. */
  cost: { spentUsd: number; budgetUsd: number };
  /** Null while the outbox keeps up; set while its writes to the ledger or Redis are failing (workflows/outbox.ts). */
  outbox?: OutboxStall | null;
  startedAt: string;
  updatedAt: string;
}

/** An outbox that cannot write: what waits, since when, how often it was tried and the last error. */
export interface OutboxStall {
  /** `ledger`: nothing more is recorded until it is fixed; `redis`: the ledger goes on, watchers lag. */
  target: 'ledger' | 'redis';
  /** Events waiting to be written. */
  pending: number;
  attempts: number;
  lastError: string;
  since: string;
  /** When it is tried next. */
  retryAt: string;
}

export interface Proposal {
  id: string;
  round: number;
  author: Role;
  title: string;
  /** The design in a few sentences. */
  summary: string;
  /** The design itself, section by section (bounds in common/limits.ts). */
  design: Design;
  complexity: number;
  /** The GAMMA sub-problems this proposal works through, when it follows a decomposition. */
  subproblems?: string[];
}

export interface Vote {
  proposalId: string;
  agent: Role;
  approve: boolean;
  reason?: string;
}

export const MESSAGE_RECIPIENTS = ['alpha', 'beta', 'gamma', 'all'] as const;
export type MessageRecipient = (typeof MESSAGE_RECIPIENTS)[number];

/** A message on the bus between agents: delivered into the recipient's next turn. */
export interface AgentMessage {
  id: string;
  round: number;
  from: Role;
  to: MessageRecipient;
  content: string;
}

export interface Consensus {
  proposalId: string;
  title: string;
  round: number;
  votes: Vote[];
}

export interface RejectedVote extends Vote {
  why: string;
  at: string;
}

export interface GammaRequest {
  reason: GammaReason;
  detail?: string;
  at: string;
  accepted: boolean;
  note: string;
}

export interface OrchestrationView {
  status: 'PENDING' | 'RUNNING' | 'CONSENSUS' | 'NO_CONSENSUS' | 'PARTIAL' | 'TIMEOUT' | 'STOPPED' | 'FAILED' | 'ERROR';
  mode: LlmMode;
  model: string;
  round: number;
  proposals: Proposal[];
  votes: Vote[];
  consensus: Consensus | null;
  gamma: GammaView & { requests: GammaRequest[] };
  messages: AgentMessage[];
  /** 1 for the first orchestration, 2, 3... after each `recover` rerun. */
  attempt: number;
  rejectedVotes: RejectedVote[];
  handoffs: Handoff[];
  /** GAMMA's decomposition, when it was called in for COMPLEXITY. */
  subproblems: string[];
  /** The proposal accepted as partial (recover accept_partial). */
  partial: { proposalId: string; title: string } | null;
}

export interface AgentSummary {
  role: Role;
  summary: string;
}

export interface Report {
  pipelineId: string;
  objective: string;
  kind: 'run' | 'final' | 'partial';
  status: PipelineStatusName;
  summary: string;
  agents: AgentSummary[];
  consensus: Consensus | null;
  notes: string[];
  generatedAt: string;
  /** The final report's deliverable (agents/report.ts); absent from RUN's report. */
  deliverable?: Deliverable;
}

/** What the pipeline produced: the adopted design in full and how it was decided. */
export interface Deliverable {
  /** The adopted design, or for TIMEOUT and partial endings the best so far (`adopted` false); null when none was posted. */
  design: (Proposal & { adopted: boolean }) | null;
  /** The votes cast on that design. */
  votes: Vote[];
  /** Every vote against a proposal, with its reason (the latest ones, bounded). */
  dissents: Vote[];
  /** The design's own risks and the objections still standing against it. */
  risks: string[];
  /** GAMMA's part, when it was called in: why, its decomposition, its arbitration messages. */
  gamma: { reason: GammaReason; subproblems: string[]; notes: string[] } | null;
}

export interface PipelineResult {
  pipelineId: string;
  status: PipelineStatusName;
  consensus: Consensus | null;
  rounds: number;
  gamma: GammaView;
  tokens: number;
  /** What the pipeline's LLM calls cost (USD, as the provider reported it; 0 for the simulator). Absent in results recorded before the cost budget. */
  costUsd?: number;
  /** Agents revoked during the run (their partner continued alone). */
  revoked: Role[];
  /** Set when the pipeline completed with a partial result (recover accept_partial). */
  partial?: { proposalId: string; title: string };
  reason?: string;
  /**
   * The simulator's latency along the pipeline's longest chain of sequential LLM calls (RUN's slower
   * agent, then each round's proposal and slowest review); 0 with a real provider. The benchmark
   * divides the pipeline's wall time by it.
   */
  llmCriticalPathMs: number;
}

/** An event as watchers receive it (WebSocket and the Redis bus). */
export interface PipelineEvent {
  type: EventType;
  pipeline_id: string;
  seq: number;
  ts: string;
  data: Record<string, unknown>;
}

/**
 * Each event type with the data it carries (besides `pipeline_id`, which every event's data has). The
 * contract names some of these fields (CONTRACT.md: orchestration_started {model, agents},
 * agent_spawned {agent_id, role, runtime}, agent_message {from, to, content}, consensus_reached
 * {proposal_id, votes}, orchestration_complete {status, results}); the compiler checks every emit
 * against this map, and tests/events.test.ts checks them on a real run.
 */
export interface EventDataMap {
  pipeline_spawned: { objective: string; mode: LlmMode; model: string; scenario: Scenario; auto_continue: boolean };
  phase_changed: { phase: Phase; status: PipelineStatusName };
  orchestration_started: { model: string; mode: LlmMode; agents: string[]; attempt: number };
  agent_spawned: { agent_id: string; role: string; runtime: string; phase: AgentPhase };
  /** `from`/`to` upper case (ALPHA, BETA, GAMMA, ALL), or PIPELINE for the pipeline's own notes. */
  agent_message: { from: string; to: string; content: string };
  proposal_posted: { proposal_id: string; author: string; title: string; complexity: number; round: number };
  vote_cast: { agent: string; proposal_id: string; approve: boolean; reason: string };
  gamma_spawned: { reason: GammaReason; detail: string | null; attempt: number };
  consensus_reached: { proposal_id: string; votes: { agent: string; approve: boolean }[] };
  agent_revoked: { agent_id: string; role: string; reason: string; handoff: { did: string[]; left: string } };
  orchestration_complete: {
    status: PipelineStatusName;
    results: {
      consensus: Consensus | null;
      partial: { proposalId: string; title: string } | null;
      rounds: number;
      proposals: number;
      revoked: Role[];
      attempts: number;
    };
  };
  /** cost_usd: what its LLM calls cost, as the provider reported it (0 for the simulator). */
  pipeline_finished: { status: PipelineStatusName; reason: string | null; rounds: number; tokens: number; cost_usd: number };
}
export type EventType = keyof EventDataMap;
/** Every event type once: a type missing here or in the map above does not compile. */
const EVENT_TYPE_SET: Record<EventType, true> = {
  pipeline_spawned: true,
  phase_changed: true,
  orchestration_started: true,
  agent_spawned: true,
  agent_message: true,
  proposal_posted: true,
  vote_cast: true,
  gamma_spawned: true,
  consensus_reached: true,
  agent_revoked: true,
  orchestration_complete: true,
  pipeline_finished: true,
};
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as EventType[];
