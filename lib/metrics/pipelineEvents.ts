import type { EventDataMap, PipelineEvent } from '../../common/types';
import { revocationCause } from '../../governance/errorBudget';
import type { WorkerMetrics } from './series';

// The pipeline figures, derived from the events the ledger writer has just written for the first time
// (Ledger.writeBatch's newEvents): an event is counted once however often its batch is retried, and
// no workflow code is involved. Durations use the events' own timestamps (the workflow's clock).

/** Where the phase current at an event began (Ledger.phaseStartBefore). */
export type PhaseStartLookup = (seq: number) => { phase: string; ts: string } | undefined;

const seconds = (from: string, to: string): number | undefined => {
  const d = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(d) && d >= 0 ? d : undefined;
};

export function countPipelineEvents(m: WorkerMetrics, events: readonly PipelineEvent[], phaseStart: PhaseStartLookup, now = Date.now()): void {
  for (const e of events) {
    const lag = (now - Date.parse(e.ts)) / 1000;
    if (Number.isFinite(lag)) m.outboxLag.observe(Math.max(0, lag));
    switch (e.type) {
      case 'pipeline_spawned':
        m.pipelinesStarted.inc({ mode: m.labels.mode((e.data as EventDataMap['pipeline_spawned']).mode) });
        break;
      case 'phase_changed':
        closePhase(m, e, phaseStart);
        break;
      case 'pipeline_finished':
        // The last phase ends with the pipeline.
        closePhase(m, e, phaseStart);
        m.pipelinesEnded.inc({ status: m.labels.status((e.data as EventDataMap['pipeline_finished']).status) });
        break;
      case 'orchestration_complete': {
        const { results } = e.data as EventDataMap['orchestration_complete'];
        if (results?.consensus) m.consensusRounds.observe(results.rounds);
        break;
      }
      case 'gamma_spawned':
        m.gammaSpawns.inc({ reason: m.labels.gammaReason((e.data as EventDataMap['gamma_spawned']).reason) });
        break;
      case 'agent_revoked': {
        const d = e.data as EventDataMap['agent_revoked'];
        m.revocations.inc({ role: m.labels.role(d.role), reason: m.labels.revocation(revocationCause(String(d.reason))) });
        break;
      }
      default:
        break;
    }
  }
}

function closePhase(m: WorkerMetrics, e: PipelineEvent, phaseStart: PhaseStartLookup): void {
  const start = phaseStart(e.seq);
  const d = start && seconds(start.ts, e.ts);
  if (start && d !== undefined) m.phaseDuration.observe({ phase: m.labels.phase(start.phase) }, d);
}
