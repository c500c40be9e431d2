import type { Redis } from 'ioredis';

// Live output: an LLM answer's text as it streams in, published on Redis pub/sub for watchers
// (the API forwards it on /ws as `llm_partial` messages). It is not an event: no seq, not stored, not
// in the ledger and never in a history; a watcher gets what is published while it listens, so one that
// connects mid-call sees the rest of the stream (each message's `offset` says how much it missed).
// The final answer is validated and recorded as before; the transcript keeps it whole.

export const partialChannel = (pipelineId: string): string => `ag:partial:${pipelineId}`;

export interface PartialMessage {
  type: 'llm_partial';
  pipeline_id: string;
  /** The agent's workflow id. */
  agent_id: string;
  role: string;
  task: string;
  round: number;
  /** The call's transcript key: the same in GET /api/pipeline/:id/transcript once the call is recorded. */
  call: string;
  /** Which HTTP request of the call (2: the provider's repair request, whose answer starts again). */
  exchange: number;
  /** Characters of this request's answer before `text`. */
  offset: number;
  text: string;
  /** The call ended: `outcome` is ok or its error class; no more text follows for it. */
  done: boolean;
  outcome?: string;
}

/** How often at most a call publishes: streamed tokens arrive faster than anyone reads them. */
const EVERY_MS = 100;
/** Published sooner once this much text waits. */
const MAX_WAITING = 2048;

/**
 * One call's publisher: collects the pieces and publishes them together every EVERY_MS. Publishing
 * never fails or delays the call: live output is a courtesy, the transcript is the record.
 */
export class PartialPublisher {
  private waiting = '';
  private offset = 0;
  private exchange = 1;
  private timer: NodeJS.Timeout | undefined;
  private streamed = false;
  /** The request's answer is complete; the next text starts the next request's answer. */
  private between = false;

  constructor(
    private readonly redis: Redis,
    private readonly who: Omit<PartialMessage, 'type' | 'exchange' | 'offset' | 'text' | 'done' | 'outcome'>,
  ) {}

  push(text: string): void {
    if (this.between) {
      this.between = false;
      this.exchange += 1;
      this.offset = 0;
    }
    this.streamed = true;
    this.waiting += text;
    if (this.waiting.length >= MAX_WAITING) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), EVERY_MS);
  }

  /** The request's answer is complete (a repair request may follow, whose answer starts at offset 0). */
  exchangeEnded(): void {
    this.flush();
    // Counted when the next answer starts: the final `done` belongs to the last request that streamed.
    this.between = true;
  }

  /** The call ended; said only when something streamed (a call that never reached the provider streamed nothing). */
  end(outcome: string): void {
    this.flush();
    if (this.streamed) this.publish({ text: '', done: true, outcome });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.waiting) return;
    const text = this.waiting;
    this.waiting = '';
    this.publish({ text, done: false });
    this.offset += text.length;
  }

  private publish(m: { text: string; done: boolean; outcome?: string }): void {
    const message: PartialMessage = { type: 'llm_partial', ...this.who, exchange: this.exchange, offset: this.offset, ...m };
    this.redis.publish(partialChannel(this.who.pipeline_id), JSON.stringify(message)).catch(() => undefined);
  }
}
