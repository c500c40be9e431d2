import type { Redis } from 'ioredis';
import type { PipelineEvent } from '../common/types';
import type { EventHub } from './eventHub';
import { eventsSince, pipelineChannel } from './events';
import type { LedgerReader } from './ledger';

// "Replay, then live", written once for every watcher of one pipeline (the API's /ws, the demo): the
// stored events after `since`, then live ones — each seq exactly once and in order. The pipeline's seqs are consecutive and every event is stored
// (ZADD) before it is published, so a live event that does not follow the last one sent means a
// message was missed (e.g. while Redis reconnected): the gap is read back from the sorted set.
// Live events that arrive during a read wait in a bounded queue; a client whose queue overflows, or
// whose socket buffer grows too large, is dropped by the caller instead of slowing anyone else.
// Redis is only a mirror: when its stored events do not run on from `since` (Redis restarted without
// persistence, was flushed, or the keys expired), the ledger's audit events fill the gap.

export interface StreamDeps {
  since: number;
  /** Stored events with seq > after, in order. */
  read(after: number): Promise<PipelineEvent[]>;
  /** Sends one event; returns false when the client is too far behind (the stream then stops). */
  send(e: PipelineEvent): boolean;
  /** The stream cannot go on: the caller closes the connection. */
  fail(reason: 'slow' | 'error', detail: string): void;
  maxPending: number;
}

export class PipelineEventStream {
  private last: number;
  private reading = false;
  private again = false;
  private stopped = false;
  private pending: PipelineEvent[] = [];

  constructor(private readonly deps: StreamDeps) {
    this.last = deps.since;
  }

  /** The last seq sent: where a reconnecting client resumes (`since`). */
  get lastSeq(): number {
    return this.last;
  }

  /** The replay; call after the live subscription is active, so nothing falls between the two. */
  start(): Promise<void> {
    return this.catchUp();
  }

  onLive(e: PipelineEvent): void {
    if (this.stopped || e.seq <= this.last) return;
    if (!this.reading && e.seq === this.last + 1) return this.deliver(e);
    this.pending.push(e);
    if (this.pending.length > this.deps.maxPending) return this.stop('slow', `more than ${this.deps.maxPending} events waiting`);
    if (!this.reading) void this.catchUp();
  }

  /** After the subscriber reconnected: messages may have been lost while it was away. */
  resync(): void {
    if (!this.stopped) void this.catchUp();
  }

  stop(reason?: 'slow' | 'error', detail = ''): void {
    if (this.stopped) return;
    this.stopped = true;
    this.pending = [];
    if (reason) this.deps.fail(reason, detail);
  }

  private deliver(e: PipelineEvent): void {
    if (this.stopped || e.seq <= this.last) return;
    this.last = e.seq;
    if (!this.deps.send(e)) this.stop('slow', 'send buffer full');
  }

  private async catchUp(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        const stored = await this.deps.read(this.last);
        for (const e of stored) this.deliver(e);
        // Whatever arrived live during the read, in order. A gap the read did not fill is not waited
        // for: the read is the authority, a second one would find nothing more.
        const waiting = this.pending.sort((a, b) => a.seq - b.seq);
        this.pending = [];
        for (const e of waiting) this.deliver(e);
      } while (this.again && !this.stopped);
    } catch (err) {
      this.stop('error', `cannot read stored events: ${(err as Error).message}`);
    } finally {
      this.reading = false;
    }
  }
}

export interface FollowOptions {
  since: number;
  /** Sends one event; false when the watcher is too far behind (following then stops as 'slow'). */
  send(e: PipelineEvent): boolean;
  /** Following cannot go on; `resume` is the seq to come back with (`since`). */
  fail(reason: 'slow' | 'error', detail: string, resume: number): void;
  /** Stops following. */
  signal: AbortSignal;
  /** Live events allowed to wait while a read is in flight (unbounded when not given). */
  maxPending?: number;
  /** Where events Redis has lost are read back from (its audit events); without it Redis is the only source. */
  ledger?: LedgerReader;
}

/**
 * Stored events with seq > `after`, in order: Redis's, and when they do not run on from `after`
 * without a hole (or there are none), the ledger's merged in, each seq once.
 */
export async function readStoredEvents(redis: Redis, ledger: LedgerReader | undefined, pipelineId: string, after: number): Promise<PipelineEvent[]> {
  const cached = await eventsSince(redis, pipelineId, after);
  const unbroken = cached.length > 0 && cached.every((e, i) => e.seq === after + 1 + i);
  if (unbroken || !ledger) return cached;
  let durable: PipelineEvent[];
  try {
    durable = ledger.eventsSince(pipelineId, after);
  } catch {
    return cached; // no ledger to read (not created yet): Redis's events are all there is
  }
  const bySeq = new Map<number, PipelineEvent>(durable.map((e) => [e.seq, e]));
  for (const e of cached) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/**
 * Follows one pipeline's events through the process's shared subscriber; resolves once the replay
 * has been sent, and goes on until `signal` aborts or it fails (then `fail` is called, once).
 */
export async function followEvents(hub: EventHub, reader: Redis, pipelineId: string, opts: FollowOptions): Promise<void> {
  const cleanups: (() => void)[] = [];
  const stop = () => cleanups.splice(0).forEach((c) => c());
  const stream: PipelineEventStream = new PipelineEventStream({
    since: opts.since,
    read: (after) => readStoredEvents(reader, opts.ledger, pipelineId, after),
    send: opts.send,
    fail: (reason, detail) => {
      stop();
      opts.fail(reason, detail, stream.lastSeq);
    },
    maxPending: opts.maxPending ?? Number.POSITIVE_INFINITY,
  });
  cleanups.push(
    () => stream.stop(),
    hub.onResync(() => stream.resync()),
  );
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    // Subscribe first, then replay: an event published in between is in both, and sent once.
    const unwatch = await hub.watch(pipelineChannel(pipelineId), (message) => {
      let e: PipelineEvent;
      try {
        e = JSON.parse(message) as PipelineEvent;
      } catch {
        return;
      }
      stream.onLive(e);
    });
    cleanups.push(unwatch);
  } catch (err) {
    stop();
    throw err;
  }
  if (opts.signal.aborted) return stop();
  await stream.start();
}
