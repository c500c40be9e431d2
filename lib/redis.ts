import { Redis } from 'ioredis';

/**
 * A Redis client that fails fast at start (a clear error instead of endless reconnects when nothing
 * listens) and reconnects patiently once it has been up, so a Redis restart only delays writes.
 */
export async function connectRedis(url: string, opts: { name?: string; subscriber?: boolean } = {}): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: opts.name,
    maxRetriesPerRequest: opts.subscriber ? null : 3,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', () => {
    // Reconnects are handled by retryStrategy; callers see failed commands, not unhandled events.
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis is not reachable at ${redactUrl(url)}: ${(err as Error).message}`);
  }
  return redis;
}

/** A Redis URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
