import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

// One Redis subscriber connection shared by every /ws client of this API process. Channels are
// reference-counted: subscribed when the first watcher arrives, unsubscribed when the last leaves,
// so one client leaving never silences another watching the same pipeline.
//
// After the subscriber reconnects (ioredis resubscribes by itself), watchers are told to resync:
// messages published while it was away were never delivered, and each watcher refills the gap from
// the pipeline's sorted set.

type Listener = (message: string) => void;

interface ChannelEntry {
  listeners: Set<Listener>;
  subscribed: Promise<unknown>;
}

export class EventHub {
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly resyncListeners = new Set<() => void>();
  private subscriber: Redis | undefined;
  private connecting: Promise<Redis> | undefined;
  private wasReady = false;
  /** The subscriber's CLIENT SETNAME, unique per hub: operators (and tests) can find it in CLIENT LIST. */
  readonly connectionName = `api-events-${randomBytes(4).toString('hex')}`;

  constructor(private readonly base: Redis) {}

  /** The subscriber connection, opened on first use; rejects (→ 503) while Redis is down. */
  private async connection(): Promise<Redis> {
    if (this.subscriber?.status === 'ready') return this.subscriber;
    this.connecting ??= (async () => {
      const sub = this.subscriber ?? this.base.duplicate({ lazyConnect: true, connectionName: this.connectionName, maxRetriesPerRequest: null });
      if (!this.subscriber) {
        sub.on('error', () => undefined); // reconnects are ioredis's job; failures surface as rejected commands
        sub.on('message', (channel: string, message: string) => this.channels.get(channel)?.listeners.forEach((l) => l(message)));
        sub.on('ready', () => {
          // The PING answers after ioredis's resubscribe commands, so the gap read starts once live messages flow again.
          if (this.wasReady)
            void sub.ping().then(
              () => this.resyncListeners.forEach((l) => l()),
              () => undefined,
            );
          this.wasReady = true;
        });
        this.subscriber = sub;
      }
      if (sub.status === 'wait' || sub.status === 'end') await sub.connect();
      else if (sub.status !== 'ready') {
        // Reconnecting: wait a moment, then give up (→ 503) rather than hold the request.
        await new Promise<void>((resolve, reject) => {
          const onReady = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            sub.off('ready', onReady);
            reject(new Error('Redis subscriber not ready (Connection is closed)'));
          }, 2000);
          sub.once('ready', onReady);
        });
      }
      return sub;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Throws when Redis cannot be reached, so /ws can answer 503 before upgrading. */
  async ensureReady(): Promise<void> {
    await this.connection();
  }

  /** Calls `listener` for every message on `channel`; resolves once the subscription is active. */
  async watch(channel: string, listener: Listener): Promise<() => void> {
    const sub = await this.connection();
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), subscribed: sub.subscribe(channel) };
      this.channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    try {
      await entry.subscribed;
    } catch (err) {
      this.leave(channel, listener);
      throw err;
    }
    return () => this.leave(channel, listener);
  }

  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  private leave(channel: string, listener: Listener): void {
    const entry = this.channels.get(channel);
    if (!entry || !entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.channels.delete(channel);
    // Commands on one connection run in order, so a watcher subscribing right after this still ends subscribed.
    this.subscriber?.unsubscribe(channel).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.channels.clear();
    this.resyncListeners.clear();
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
