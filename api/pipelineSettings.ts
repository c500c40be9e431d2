import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import type { PipelineEvent, PipelineSettings } from '../common/types';
import { boardKeys } from '../lib/blackboard';
import type { Ledger } from '../lib/ledger';

// A pipeline's own settings as it runs with them (every default resolved by the worker), for answers
// such as the report's `auto_continue`. Read from the ledger's pipelines row — the worker writes it
// when the pipeline starts — through a read-only connection of the API's own (the Ledger class is the
// writer's). Until that row exists, the `pipeline_spawned` event carries the same values.

export class PipelineSettingsReader {
  private db: Database.Database | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly redis: Redis,
  ) {}

  private fromLedger(pipelineId: string): Partial<PipelineSettings> | null {
    if (this.ledger.path === ':memory:') return null;
    this.db ??= new Database(this.ledger.path, { readonly: true, fileMustExist: true, timeout: 2000 });
    const row = this.db.prepare('SELECT settings FROM pipelines WHERE pipeline_id = ? ORDER BY created_at DESC LIMIT 1').get(pipelineId) as
      { settings: string } | undefined;
    return row ? (JSON.parse(row.settings) as Partial<PipelineSettings>) : null;
  }

  private async fromEvents(pipelineId: string): Promise<boolean | null> {
    // pipeline_spawned is among the first events of a run.
    const first = await this.redis.zrangebyscore(boardKeys(pipelineId).events, '-inf', '+inf', 'LIMIT', 0, 5);
    const spawned = first.map((s) => JSON.parse(s) as PipelineEvent).find((e) => e.type === 'pipeline_spawned');
    const v = spawned?.data.auto_continue;
    return typeof v === 'boolean' ? v : null;
  }

  /** true/false as the pipeline runs with it; null when neither record exists yet. */
  async autoContinue(pipelineId: string): Promise<boolean | null> {
    const settings = this.fromLedger(pipelineId);
    if (typeof settings?.autoContinue === 'boolean') return settings.autoContinue;
    return this.fromEvents(pipelineId);
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
