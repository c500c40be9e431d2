// The Redis commands this project sends, and what DragonflyDB (the original design's store;
// docker-compose.dragonfly.yml swaps it in) does with each. tests/unit/redisCommands.test.ts finds every
// command in the code (ioredis calls, by the type of their receiver, and redis.call() in Lua scripts)
// and fails when this list misses one or names one the code no longer sends: a new command is weighed
// against Dragonfly here, when it is added. Dragonfly's behaviour is as its documentation states; it was
// not run on the development machines (no Docker engine).
// Not used, so a store without them still serves the project: keyspace notifications (Dragonfly has only
// expired-key events), WATCH, streams, modules, cluster mode, FUNCTION and EVALSHA (scripts go whole with
// EVAL each time); the test below would find them.

/** How a command is sent: by our code through ioredis, from a Lua script, or by ioredis on its own. */
export type Via = 'client' | 'lua' | 'ioredis';

export interface RedisCommand {
  via: readonly Via[];
  /** Where it is used and what for. */
  use: string;
  /** What Dragonfly does differently; '' when nothing. */
  dragonfly: string;
}

export const REDIS_COMMANDS = {
  // Connection: ioredis sends these itself.
  INFO: { via: ['ioredis'], use: 'the ready check on connect', dragonfly: '' },
  CLIENT: {
    via: ['ioredis'],
    use: 'SETNAME (connectionName) and SETINFO on connect',
    dragonfly: 'ioredis ignores a refused SETINFO',
  },
  PING: { via: ['client'], use: 'start-up check, /healthz, the event subscriber after a reconnect', dragonfly: '' },
  // Pub/sub: live events and LLM output to /ws.
  SUBSCRIBE: { via: ['client'], use: 'lib/eventHub.ts: one subscriber connection per API process', dragonfly: '' },
  UNSUBSCRIBE: { via: ['client'], use: 'lib/eventHub.ts', dragonfly: '' },
  PUBLISH: {
    via: ['client', 'lua'],
    use: 'lib/partials.ts (LLM output), lib/events.ts (events, from the store-and-publish script)',
    dragonfly: 'also from scripts (supported since 2022)',
  },
  // Scripts: the circuit breaker, events stored and published at once, the transcript stash.
  EVAL: {
    via: ['client'],
    use: 'lib/breaker.ts, lib/events.ts, lib/transcripts.ts',
    dragonfly:
      'Lua 5.4 rather than 5.1, and a script may touch only the keys passed in KEYS ("script tried accessing undeclared key" otherwise, unless --default_lua_flags=allow-undeclared-keys): ours pass every key they touch, the channels they publish to included',
  },
  TIME: { via: ['lua'], use: "lib/breaker.ts: the server's clock, the same for every worker", dragonfly: '' },
  // Transactions: a pipeline's board writes, and the transcript stash, applied whole.
  MULTI: { via: ['client'], use: 'lib/blackboard.ts, lib/transcripts.ts, activities/mirror.ts', dragonfly: '' },
  EXEC: { via: ['client'], use: 'with MULTI', dragonfly: '' },
  // Data.
  GET: { via: ['client', 'lua'], use: 'lib/blackboard.ts (run marker), lib/breaker.ts (probe lease)', dragonfly: '' },
  SET: { via: ['client', 'lua'], use: 'lib/blackboard.ts; lib/breaker.ts with NX PX (probe lease)', dragonfly: '' },
  DEL: { via: ['client', 'lua'], use: 'lib/blackboard.ts (new run), lib/breaker.ts', dragonfly: '' },
  EXISTS: { via: ['client'], use: "api/routes/ws.ts: a pipeline's stored events", dragonfly: '' },
  EXPIRE: { via: ['client'], use: "a finished pipeline's keys, the transcript stash", dragonfly: '' },
  PEXPIRE: { via: ['lua'], use: 'lib/breaker.ts', dragonfly: '' },
  PTTL: { via: ['lua'], use: 'lib/breaker.ts', dragonfly: '' },
  HSET: { via: ['client', 'lua'], use: 'the board, the transcript stash, lib/breaker.ts', dragonfly: '' },
  HEXISTS: { via: ['lua'], use: 'lib/breaker.ts (whether a close is a transition)', dragonfly: '' },
  HGET: { via: ['lua'], use: 'lib/breaker.ts', dragonfly: '' },
  HMGET: { via: ['client', 'lua'], use: 'lib/transcripts.ts, lib/breaker.ts', dragonfly: '' },
  HKEYS: { via: ['client'], use: 'lib/transcripts.ts', dragonfly: '' },
  HDEL: { via: ['client'], use: 'lib/transcripts.ts', dragonfly: '' },
  HLEN: { via: ['lua'], use: 'lib/transcripts.ts', dragonfly: '' },
  HINCRBY: { via: ['lua'], use: 'lib/breaker.ts', dragonfly: '' },
  SADD: { via: ['client'], use: 'lib/transcripts.ts: pipelines with stashed transcripts', dragonfly: '' },
  SREM: { via: ['lua'], use: 'lib/transcripts.ts', dragonfly: '' },
  SMEMBERS: { via: ['client'], use: 'lib/transcripts.ts', dragonfly: '' },
  ZADD: { via: ['lua'], use: "lib/events.ts: a pipeline's events by seq, NX", dragonfly: '' },
  ZRANGEBYSCORE: { via: ['client'], use: 'lib/events.ts: events after a seq (/ws replay)', dragonfly: '' },
} as const satisfies Record<string, RedisCommand>;
