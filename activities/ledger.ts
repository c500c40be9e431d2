import type { Handoff, PipelineEvent, PipelineResult, PipelineSettings } from '../common/types';
import type { CheckpointInput, Ledger, RunRef } from '../lib/ledger';

// Ledger writes, run on the ledger task queue by the one worker that owns the SQLite file.

export function createLedgerActivities(ledger: Ledger) {
  return {
    async recordPipeline(args: RunRef & { workflowId: string; settings: PipelineSettings; createdAt: string }): Promise<boolean> {
      return ledger.recordPipeline(args);
    },
    async recordCheckpoint(args: CheckpointInput): Promise<boolean> {
      return ledger.recordCheckpoint(args);
    },
    async recordResult(args: RunRef & { result: PipelineResult; ts: string }): Promise<boolean> {
      return ledger.recordResult(args);
    },
    async recordHandoff(args: RunRef & { attempt: number; handoff: Handoff }): Promise<boolean> {
      return ledger.recordHandoff(args);
    },
    async recordAudit(args: RunRef & { events: PipelineEvent[] }): Promise<number> {
      return ledger.recordAudit(args, args.events);
    },
  };
}
