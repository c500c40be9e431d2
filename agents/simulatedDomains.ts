// What the local simulator knows about a few kinds of objective, so that its designs follow the
// objective ("Design a rate limiter" gets rate-limiting designs, not caching ones). Pure data; an
// objective that matches none gets the generic kind, phrased around the objective itself.

export interface Domain {
  /** Words in the objective that select this kind (lower case, matched as word starts). */
  keywords: readonly string[];
  /** Design approaches, one per proposal. */
  approaches: readonly string[];
  components: readonly string[];
  risks: readonly string[];
  /** What success looks like (BETA's synthesis). */
  criteria: string;
  /** BETA's question to the proposer in the first round. */
  question: string;
  /** How a proposer answers it. */
  answer: string;
}

export const DOMAINS: readonly Domain[] = [
  {
    keywords: ['rate limit', 'rate-limit', 'throttl', 'quota'],
    approaches: [
      'a token bucket per client in Redis, refilled lazily with an atomic script',
      'a sliding-window counter per client and route at the gateway',
      'GCRA (generic cell rate) with one timestamp per key',
      'per-tenant quotas enforced in the gateway with a local fallback bucket',
      'a leaky-bucket queue that smooths bursts before the backend',
    ],
    components: [
      'the gateway middleware',
      'a Redis cluster holding the counters',
      'a quota configuration service',
      'a 429 response with Retry-After',
      'metrics on rejections per client',
    ],
    risks: ['Redis unavailable: fail open or closed', 'clock skew between gateway nodes', 'hot keys for the largest clients', 'bursts at window boundaries'],
    criteria: 'fair limits per client, p99 overhead under 2 ms, correct Retry-After headers, and a defined behaviour when the store is down',
    question: 'What happens to requests when Redis is unreachable: fail open or fail closed, and for how long?',
    answer:
      'If Redis is unreachable, each gateway node falls back to a local bucket at a tenth of the limit for at most 60 s, then fails closed for anonymous clients only.',
  },
  {
    keywords: ['cach'],
    approaches: [
      'a read-through cache with explicit TTLs per entity',
      'a write-behind layer with an outbox for invalidation',
      'a two-tier design: in-process LRU in front of a shared store',
      'request coalescing with stale-while-revalidate',
      'precomputed views refreshed by change events',
    ],
    components: [
      'the service-side cache client',
      'a shared Redis tier',
      'an invalidation consumer on the change stream',
      'per-entity TTL configuration',
      'hit-rate and staleness metrics',
    ],
    risks: ['stale reads under write bursts', 'cold-start thundering herds', 'unbounded memory growth', 'invalidation races across regions'],
    criteria: 'predictable latency, bounded memory, correct invalidation and a hit rate above 90 % on the hot paths',
    question: 'How is a stale entry bounded after a write: by TTL only, or is it invalidated?',
    answer: 'Writes publish an invalidation event that evicts the key within 1 s; the TTL stays as a backstop for lost events.',
  },
  {
    keywords: ['queue', 'job', 'background', 'worker', 'schedul'],
    approaches: [
      'a durable job queue with at-least-once delivery and idempotent handlers',
      'a priority queue per tenant with fair scheduling',
      'a scheduler that shards jobs by key for ordering',
      'a transactional outbox feeding workers',
    ],
    components: ['the enqueue API', 'the durable queue store', 'a worker pool with leases', 'a dead-letter queue', 'job status and lag metrics'],
    risks: [
      'duplicate execution after a lease expires',
      'poison messages blocking a partition',
      'backlog growth during outages',
      'unfair starvation of small tenants',
    ],
    criteria: 'no lost job, bounded duplicate work, visible lag, and recovery after a worker crash within a minute',
    question: 'What makes a handler safe to run twice when a lease expires mid-job?',
    answer: 'Each job carries an idempotency key checked in the same transaction as its side effect, so a second run is a no-op.',
  },
  {
    keywords: ['auth', 'login', 'identity', 'session', 'token'],
    approaches: [
      'short-lived JWT access tokens with rotating refresh tokens',
      'server-side sessions in a shared store behind an opaque cookie',
      'an OIDC provider with the service as a relying party',
    ],
    components: ['the login endpoint', 'a token service', 'a session or revocation store', 'key rotation', 'audit logging of sign-ins'],
    risks: ['token theft and replay', 'slow revocation', 'key rotation outages', 'credential stuffing'],
    criteria: 'revocation within a minute, no secret in URLs or logs, MFA-ready, and sign-in under 300 ms',
    question: 'How quickly can a stolen token be revoked, and where is that checked?',
    answer: 'Access tokens live 5 minutes; refresh tokens are checked against a revocation list on every refresh, so revocation takes effect within 5 minutes.',
  },
];

const GENERIC_APPROACHES = [
  'a modular service with explicit interfaces between its parts',
  'an event-driven design around a durable log',
  'a managed-service-first design that keeps custom code small',
  'an incremental design delivered behind feature flags',
];

/** The kind of objective, or a generic one built around the objective's own words. */
export function domainFor(objective: string): Domain {
  const text = objective.toLowerCase();
  const found = DOMAINS.find((d) => d.keywords.some((k) => text.includes(k)));
  if (found) return found;
  return {
    keywords: [],
    approaches: GENERIC_APPROACHES,
    components: ['an API layer', 'the core service', 'a persistent store', 'observability (metrics, logs, traces)', 'a deployment pipeline'],
    risks: ['unclear ownership of the parts', 'scope creep', 'operational load', 'migration from what exists today'],
    criteria: 'the stated goal met with the fewest moving parts, measurable outcomes and a safe rollout',
    question: 'Which part is the riskiest, and how is it validated before the rest is built?',
    answer: 'The riskiest part is built first as a thin vertical slice and measured in production behind a flag before the rest follows.',
  };
}
