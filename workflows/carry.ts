import { HISTORY_LIMITS } from '../common/limits';
import type { AgentSummary, GammaReason, GammaRequest, Phase, PipelineSettings, PipelineStatusName, Report, Role } from '../common/types';
import type { AgentsCarry } from './agentChannel';
import type { Ending } from './phases';
import type { OrchestrationRecord, PipelineState } from './pipelineState';

// Continue-as-new: what a pipeline's run hands the next one (same workflow id, a fresh history), so
// no number of `recover` reruns can take one history to the server's limits. Everything a query, the
// final report or the ledger needs is carried: the settings (with what `continue` changed), the
// report, the orchestration's record, the agents' views and usage, GAMMA's record, the outbox's
// numbering (events keep their seq, checkpoints their count; the ledger's run key is the chain's
// first run id, so its rows stay idempotent). Bounded: an orchestration adds at most maxRounds
// proposals (each a few kilobytes, common/limits.ts), and a pipeline runs at most
// HISTORY_LIMITS.orchestrations of them.

/**
 * Where the next run picks up: the orchestration a `recover` rerun asked for; or, when signals grew
 * the history while the pipeline waited (common/limits.ts HISTORY_LIMITS), the same wait, until the
 * same moment (epoch ms of workflow time).
 */
export type Resume =
  | { at: 'orchestrate'; attempt: number; gammaAtOnce: boolean }
  | { at: 'approval'; until: number; revokedInRun: Role[] }
  | { at: 'recovery'; attempt: number; until: number };

/** Whether a wait should hand over to a new run: the server suggests it, or signals have grown the history. */
export const historyFull = (info: { continueAsNewSuggested: boolean; historyLength: number }): boolean =>
  info.continueAsNewSuggested || info.historyLength >= HISTORY_LIMITS.continueAsNewAt;

export interface PipelineCarry {
  resume: Resume;
  phase: Phase;
  status: PipelineStatusName;
  settings: PipelineSettings;
  startedAt: string;
  report: Report | null;
  findings?: string;
  llmCriticalPathMs: number;
  revoked: Role[];
  orchestration: OrchestrationRecord;
  outbox: { seq: number; checkpoints: number };
  agents: AgentsCarry;
  gamma: { requests: GammaRequest[]; spawned: boolean; reason: GammaReason | null; detail?: string; pending?: { reason: GammaReason; detail?: string } };
  summaries: AgentSummary[];
  notes: string[];
}

export function takeCarry(s: PipelineState, ending: Ending, resume: Resume): PipelineCarry {
  return {
    resume,
    phase: s.phase,
    status: s.status,
    settings: s.settings,
    startedAt: s.startedAt,
    report: s.report,
    ...(s.findings !== undefined ? { findings: s.findings } : {}),
    llmCriticalPathMs: s.llmCriticalPathMs,
    revoked: [...s.revoked],
    orchestration: s.orchestration,
    outbox: s.outbox.counters,
    agents: s.agents.snapshot(),
    gamma: s.gamma.snapshot(),
    summaries: ending.summaries,
    notes: ending.notes,
  };
}

/** The carried state into a new run's (fresh) state. */
export function restoreCarry(s: PipelineState, ending: Ending, c: PipelineCarry): void {
  s.settings = c.settings;
  s.startedAt = c.startedAt;
  s.updatedAt = c.startedAt;
  s.report = c.report;
  s.findings = c.findings;
  s.llmCriticalPathMs = c.llmCriticalPathMs;
  s.revoked.push(...c.revoked);
  s.orchestration = c.orchestration;
  s.phase = c.phase;
  s.status = c.status;
  s.outbox.resumeCounters(c.outbox);
  s.agents.restore(c.agents);
  s.gamma.restore(c.gamma);
  ending.summaries.push(...c.summaries);
  ending.notes.push(...c.notes);
}
