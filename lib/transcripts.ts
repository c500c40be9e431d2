import type { Redis } from 'ioredis';
import type { Exchange } from '../agents/exchange';
import type { Usage } from '../agents/provider';
import type { Role } from '../common/types';
import type { Ledger } from './ledger';

// LLM transcripts: every provider call's messages as sent and raw answers, kept in the ledger and never
// in a workflow history (a history holds the call's key only). The ledger has one writer (the worker
// with the ledger role) while provider calls run on any `<queue>-llm` worker, so the call's activity
// stashes its transcript in Redis and the ledger writer moves it into SQLite:
//
//   callAgent (any llm worker)  HSET ag:transcripts:<pipeline> <call key> <json>, SADD ag:transcripts:pending:<queue>
//   mirror (the ledger worker)  HMGET → INSERT … ON CONFLICT DO NOTHING → HDEL, for its pipeline
//   sweep (the ledger worker)   the same for every pending pipeline, at the first batch and daily
//
// Why a hash per pipeline drained by `mirror` rather than a stream with a consumer loop: `mirror`
// already runs on the ledger worker after a pipeline's calls (each round flushes the outbox, and the
// last flush follows the last call), so no new process, loop or consumer-group state is needed, and
// the API sees a round's transcripts with its other rows. A hash field per call key makes the stash
// idempotent (a repeated write overwrites the same field) and lets the drain delete exactly what it
// copied. The ledger's primary key makes a repeated copy a no-op. The sweep catches what no later
// mirror of its pipeline will, such as a call that finished after its pipeline had ended.

export interface TranscriptRecord {
  /** Unique per provider call: the agent's run id, the activity id and Temporal's attempt of it. */
  key: string;
  pipelineId: string;
  /** The agent's workflow id, e.g. pipeline-x-orch-alpha. */
  agentId: string;
  agentRunId: string;
  role: Role;
  task: string;
  round: number;
  /** The agent's try of this task (AgentRequest.callAttempt; the workflow owns retries). */
  try: number;
  /** Temporal's attempt of this activity (more than 1 after a lost worker or a timeout). */
  attempt: number;
  /** What this try repairs (the protocol problem of the previous answer), when it is a repair. */
  repair: string | null;
  model: string;
  /** The call's usage over its exchanges; null when it failed before an answer counted. */
  usage: Usage | null;
  /** `ok`, or the error's kind (e.g. invalid_output, rate_limited). */
  outcome: string;
  error: string | null;
  /** The HTTP exchanges in order: one, or two with the provider's one repair request. */
  exchanges: Exchange[];
  startedAt: string;
  endedAt: string;
}

export const transcriptKeys = {
  calls: (pipelineId: string): string => `ag:transcripts:${pipelineId}`,
  /**
   * Pipelines with stashed transcripts, per task queue: deployments (and test harnesses) that share a
   * Redis each have their own ledger, and a sweep must not move another's transcripts into its own.
   */
  pending: (taskQueue: string): string => `ag:transcripts:pending:${taskQueue}`,
};

/** A stash no ledger writer drained in this long is dropped, so Redis cannot fill up without one. */
const STASH_TTL_SECONDS = 14 * 86_400;

/** Stashes one call's transcript for the ledger writer; throws when Redis did not take it. */
export async function stashTranscript(redis: Redis, taskQueue: string, t: TranscriptRecord): Promise<void> {
  const key = transcriptKeys.calls(t.pipelineId);
  const results = await redis
    .multi()
    .hset(key, t.key, JSON.stringify(t))
    .expire(key, STASH_TTL_SECONDS)
    .sadd(transcriptKeys.pending(taskQueue), t.pipelineId)
    .expire(transcriptKeys.pending(taskQueue), STASH_TTL_SECONDS)
    .exec();
  const failed = results?.find(([err]) => err)?.[0];
  if (!results || failed) throw new Error(`the transcript of call ${t.key} could not be stashed in Redis: ${failed?.message ?? 'transaction aborted'}`);
}

// Forgets the pipeline as pending only when nothing was stashed since the drain read the hash.
const FORGET_IF_EMPTY = `
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 0`;

const CHUNK = 50;

/** Moves a pipeline's stashed transcripts into the ledger; returns how many rows were new. */
export async function drainTranscripts(redis: Redis, ledger: Ledger, taskQueue: string, pipelineId: string): Promise<number> {
  const key = transcriptKeys.calls(pipelineId);
  const fields = await redis.hkeys(key);
  let added = 0;
  for (let i = 0; i < fields.length; i += CHUNK) {
    const chunk = fields.slice(i, i + CHUNK);
    const values = await redis.hmget(key, ...chunk);
    const records = values.flatMap((v) => {
      if (v === null) return [];
      try {
        const t = JSON.parse(v) as TranscriptRecord | null;
        // Only records of the shape the ledger's columns need; anything else would fail every drain.
        return t && typeof t === 'object' && t.key && t.pipelineId && t.role && t.model && Array.isArray(t.exchanges) ? [t] : [];
      } catch {
        // Not ours to keep: a value no activity wrote would block the drain forever.
        return [];
      }
    });
    added += ledger.recordTranscripts(records);
    // Deleted only once the ledger has them: a crash in between copies them again, which is a no-op.
    await redis.hdel(key, ...chunk);
  }
  await redis.eval(FORGET_IF_EMPTY, 2, key, transcriptKeys.pending(taskQueue), pipelineId);
  return added;
}

/** Drains every pipeline with stashed transcripts (the ledger writer's daily sweep). */
export async function drainAllTranscripts(redis: Redis, ledger: Ledger, taskQueue: string): Promise<number> {
  let added = 0;
  for (const pipelineId of await redis.smembers(transcriptKeys.pending(taskQueue))) added += await drainTranscripts(redis, ledger, taskQueue, pipelineId);
  return added;
}
