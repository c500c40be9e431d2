import { buildDeliverable, buildFinalReport } from '../agents/report';
import type { PipelineResult, PipelineStatusName, Role } from '../common/types';
import type { Ending } from './phases';
import type { PipelineState } from './pipelineState';
import { nowIso } from './time';

// COMPLETE, whatever the ending: the final report, the result row, the last events and checkpoint.
// Runs non-cancellable (a stop must not cut the pipeline's own record keeping short).

export async function finish(s: PipelineState, ending: Ending): Promise<PipelineResult> {
  const { status, reason } = ending;
  const consensus = s.orchestration.consensus;
  const endedIn = s.phase;
  s.report = buildFinalReport({
    settings: s.settings,
    status,
    agents: ending.summaries,
    consensus,
    rounds: s.orchestration.round,
    notes: [...(reason ? [`ended in ${endedIn}: ${reason}`] : []), ...revocationNotes(s.orchestration.handoffs, status), ...ending.notes],
    partial: s.orchestration.partial,
    at: nowIso(),
    deliverable: buildDeliverable({ ...s.orchestration, gammaReason: s.gamma.view().reason }),
  });
  const tokens = s.agents.tokens;
  const partial = s.orchestration.partial;
  const result: PipelineResult = {
    pipelineId: s.settings.pipelineId,
    status,
    consensus,
    rounds: s.orchestration.round,
    gamma: s.gamma.view(),
    tokens,
    costUsd: s.agents.costUsd,
    revoked: [...s.revoked],
    llmCriticalPathMs: s.llmCriticalPathMs,
    ...(partial ? { partial } : {}),
    ...(reason ? { reason } : {}),
  };
  if (endedIn === 'ORCHESTRATE') {
    s.outbox.emit('orchestration_complete', {
      status,
      results: {
        consensus,
        partial,
        rounds: result.rounds,
        proposals: s.orchestration.proposals.length,
        revoked: result.revoked,
        attempts: s.orchestration.attempt,
      },
    });
  }
  s.enter('COMPLETE', status);
  s.outbox.recordResult(result);
  s.outbox.emit('pipeline_finished', { status, reason: reason ?? null, rounds: result.rounds, tokens, cost_usd: result.costUsd ?? 0 });
  // The last batch is written while the agents wind down; the pipeline ends when both are done
  // (idle agents end with the pipeline: PATCHES.agentsEndWithPipeline).
  await Promise.all([s.outbox.drain(), s.agents.settled]);
  await s.outbox.drain(); // what a late reply reported while the agents wound down (its calls' usage)
  return result;
}

/** What the report says about revoked agents and who carried on. */
function revocationNotes(handoffs: readonly { role: Role; reason: string }[], status: PipelineStatusName): string[] {
  return handoffs.map((h) => {
    const partner = h.role === 'alpha' ? 'BETA' : h.role === 'beta' ? 'ALPHA' : 'ALPHA and BETA';
    return `${h.role.toUpperCase()} was revoked (${h.reason})${status === 'COMPLETED' && h.role !== 'gamma' ? `; ${partner} continued alone` : ''}`;
  });
}
