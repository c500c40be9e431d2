import { ANSWER_LIMITS } from '../common/limits';
import { clip } from '../common/text';
import type { AgentSummary, PipelineStatusName, Role } from '../common/types';
import { buildRunReport } from '../agents/report';
import { partialNotes } from '../governance/deadline';
import { bestProposal, recoveryPlan } from '../governance/recovery';
import { Orchestration } from './orchestration';
import type { PipelineState } from './pipelineState';
import type { Resume } from './carry';
import type { Steering } from './steering';
import { nowIso } from './time';

// The phases between SPAWN and COMPLETE: RUN (with REPORT), and ORCHESTRATE with its recovery.
// Each writes how the pipeline ends into `ending` when it ends it.

export interface Ending {
  status: PipelineStatusName;
  reason?: string;
  notes: string[];
  /** What RUN's agents found, for the reports. */
  summaries: AgentSummary[];
}

const handoffList = (s: PipelineState): string => s.orchestration.handoffs.map((h) => `${h.role.toUpperCase()}: ${h.reason}`).join('; ');

/** RUN: ALPHA and BETA in parallel, then REPORT. Null when both were revoked (the pipeline has failed). */
export async function runAgents(s: PipelineState, ending: Ending): Promise<{ revoked: Role[] } | null> {
  s.enter('RUN', 'RUNNING');
  s.outbox.flush();
  const revoked: Role[] = [];
  let runLatency = 0;
  await Promise.all(
    (['alpha', 'beta'] as const).map(async (role) => {
      const r = await s.agents.runOnce(role);
      runLatency = Math.max(runLatency, r.simulatedLatencyMs);
      ending.summaries.push({ role, summary: r.summary ?? '' });
      if (r.revoked) {
        revoked.push(role);
        s.recordRevocation(r.revoked, 0);
      }
    }),
  );
  s.llmCriticalPathMs += runLatency; // the two agents run in parallel
  ending.summaries.sort((a, b) => a.role.localeCompare(b.role));
  if (revoked.length === 2) {
    ending.status = 'FAILED';
    ending.reason = `both agents were revoked in RUN (${handoffList(s)})`;
    return null;
  }
  s.findings = ending.summaries
    .map((a) => `${a.role === 'alpha' ? 'ALPHA (research)' : 'BETA (success criteria)'}: ${clip(a.summary, ANSWER_LIMITS.findingsChars)}`)
    .join(' ');
  s.report = buildRunReport(s.settings, ending.summaries, nowIso());
  s.enter('REPORT', 'REPORT');
  s.outbox.flush();
  return { revoked };
}

/**
 * ORCHESTRATE: one orchestration, and after one without consensus, what a person decides within the
 * recovery window (`recover`): the best proposal as partial, or a rerun (with GAMMA at once or not),
 * which is returned: the pipeline continues as new to run it (workflows/carry.ts), from `from`.
 */
export async function orchestrate(
  s: PipelineState,
  steering: Steering,
  ending: Ending,
  revokedInRun: readonly Role[],
  from: Exclude<Resume, { at: 'approval' }> = { at: 'orchestrate', attempt: 1, gammaAtOnce: false },
): Promise<Resume | undefined> {
  const attempt = from.attempt;
  // A run that continued as new while waiting for recover waits on, until the same moment.
  const until = from.at === 'recovery' ? from.until : await orchestrateOnce(s, ending, revokedInRun, from);
  if (until === undefined) return;
  const action = await steering.recovery(until);
  if (action === 'full') return { at: 'recovery', attempt, until };
  if (!action) {
    ending.status = 'ORCHESTRATION_FAILED';
    ending.reason = `no consensus within ${s.settings.maxRounds} rounds, and no recover within the ${s.settings.recoveryWindowSeconds}s recovery window`;
    return;
  }
  s.outbox.emit('agent_message', { from: 'PIPELINE', to: 'ALL', content: `recover: ${action}` });
  const plan = recoveryPlan(action);
  if (plan.acceptPartial) {
    const best = bestProposal(s.orchestration.proposals, s.orchestration.votes);
    s.orchestration.status = 'PARTIAL';
    s.orchestration.partial = best ? { proposalId: best.id, title: best.title } : null;
    ending.notes.push(best ? `accepted as partial: ${best.id} "${best.title}" (recover accept_partial)` : 'accept_partial: there was no proposal to accept');
    return;
  }
  return { at: 'orchestrate', attempt: attempt + 1, gammaAtOnce: plan.gamma };
}

/**
 * One orchestration. Undefined when it ended the pipeline; else it ended without consensus, and the
 * recovery window's end is returned.
 */
async function orchestrateOnce(
  s: PipelineState,
  ending: Ending,
  revokedInRun: readonly Role[],
  from: Extract<Resume, { at: 'orchestrate' }>,
): Promise<number | undefined> {
  s.enter('ORCHESTRATE', 'ORCHESTRATING');
  const attempt = from.attempt;
  const orchestration = new Orchestration(s, attempt, attempt === 1 ? revokedInRun : []);
  const outcome = await orchestration.run({ gammaAtOnce: from.gammaAtOnce });
  if (outcome === 'CONSENSUS') {
    s.orchestration.status = 'CONSENSUS';
    return;
  }
  if (outcome === 'TIMEOUT') {
    s.orchestration.status = 'TIMEOUT';
    ending.status = 'TIMEOUT';
    ending.reason = `no consensus within the ${s.settings.timeoutSeconds}s orchestration deadline`;
    ending.notes.push(
      ...partialNotes(s.orchestration.proposals, s.orchestration.votes, 'the agents were stopped at the deadline; this report was written without the LLM'),
    );
    return;
  }
  if (outcome === 'ALL_REVOKED') {
    s.orchestration.status = 'FAILED';
    ending.status = 'FAILED';
    ending.reason = `every agent was revoked (${handoffList(s)})`;
    return;
  }
  // No consensus within maxRounds: wait for a person to recover, for the recovery window. A rerun
  // starts agents with the same ids, so these must have ended first.
  await s.agents.windDown();
  s.orchestration.status = 'NO_CONSENSUS';
  s.enter('ORCHESTRATE', 'ORCHESTRATION_FAILED');
  s.outbox.flush();
  return Date.now() + s.settings.recoveryWindowSeconds * 1000;
}
