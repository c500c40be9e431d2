import type { Redis } from 'ioredis';
import { eventsSince } from '../lib/events';
import type { LedgerReader } from '../lib/ledger';

// A pipeline's own settings as it runs with them (every default resolved by the worker), for answers
// such as the report's `auto_continue`: the ledger's pipelines row, which the worker writes when the
// pipeline starts; until that row exists, the `pipeline_spawned` event carries the same values.

/** true/false as the pipeline runs with it; null when neither record exists yet. */
export async function pipelineAutoContinue(ledger: LedgerReader, redis: Redis, pipelineId: string): Promise<boolean | null> {
  const settings = ledger.pipelineSettings(pipelineId);
  if (settings) return settings.autoContinue;
  // pipeline_spawned is among the first events of a run.
  const spawned = (await eventsSince(redis, pipelineId, 0, 5)).find((e) => e.type === 'pipeline_spawned');
  const v = spawned?.data.auto_continue;
  return typeof v === 'boolean' ? v : null;
}
