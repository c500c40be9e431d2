import { clipObjective } from '../common/text';
import type { LlmSettings, Scenario } from '../common/types';
import { estimateTokens, ProviderError, type AgentAnswer, type AgentRequest, type CallContext, type Completion, type LlmProvider } from './provider';

// The deterministic local LLM: the same scenario with the same input always takes the same path, so
// every governance path can be driven and replayed without a provider. Pure, apart from the wait.

const ANGLES = [
  'a read-through cache with explicit TTLs per entity',
  'a write-behind layer with an outbox for invalidation',
  'a two-tier design: in-process LRU in front of a shared store',
  'request coalescing with stale-while-revalidate',
  'precomputed views refreshed by change events',
];

const RISKS = ['stale reads under write bursts', 'cold-start thundering herds', 'unbounded memory growth', 'invalidation races across regions'];

function hash(text: string): number {
  // FNV-1a: tiny, stable across platforms and runs.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const pick = <T>(list: readonly T[], seed: string, offset = 0): T => list[(hash(seed) + offset) % list.length]!;

/** How long BETA stays silent in the `stuck` scenario: longer than the default STUCK threshold (30 s). */
export const STUCK_STALL_MS = 60_000;

const SUBPROBLEMS = ['data model and keys', 'invalidation and consistency', 'capacity, eviction and failure modes'];

/** Whether BETA accepts a proposal in this scenario, round and orchestration. */
function betaApproves(req: AgentRequest, scenario: Scenario): boolean {
  const rerun = (req.orchestration ?? 1) > 1;
  switch (scenario) {
    case 'no_consensus':
    case 'conflict':
      // Disagreement that only a mediator or a human (recover) resolves.
      return rerun;
    default:
      return req.round >= 2 || rerun;
  }
}

function proposalComplexity(req: AgentRequest, scenario: Scenario): number {
  if (req.subproblems?.length) return 0.45;
  if (scenario === 'complex') return 0.9;
  return Math.round((0.35 + 0.05 * Math.min(req.round, 6)) * 100) / 100;
}

/** GAMMA's work follows the reason it was called in for. */
function mediate(req: AgentRequest, scenario: Scenario): AgentAnswer {
  const current = req.proposals?.find((p) => p.id === req.proposalId) ?? req.proposals?.at(-1);
  const proposalId = current?.id ?? 'none';
  const reason = req.gammaReason ?? 'MANUAL';
  if (scenario === 'no_consensus' && (req.orchestration ?? 1) === 1) {
    return {
      vote: { proposalId, approve: false, reason: 'GAMMA: none of the proposals meets the objective yet.' },
      message: 'GAMMA could not endorse any proposal.',
    };
  }
  switch (reason) {
    case 'CONFLICT': {
      // Arbitration: the casting vote goes to the simplest open proposal, with the rationale.
      const open = [...(req.proposals ?? [])].sort((a, b) => a.complexity - b.complexity || a.id.localeCompare(b.id));
      const chosen = open[0]?.id ?? proposalId;
      const why = `GAMMA arbitration: ${chosen} carries the least risk (complexity ${open[0]?.complexity ?? '?'}) of ${open.length} open proposals.`;
      return { vote: { proposalId: chosen, approve: true, reason: why }, message: `${why} Casting vote for ${chosen}.` };
    }
    case 'COMPLEXITY':
      if (!current || current.complexity > 0.5) {
        return {
          vote: { proposalId, approve: false, reason: 'GAMMA: too complex to adopt in one piece; decomposed into sub-problems.' },
          subproblems: SUBPROBLEMS.map((s, i) => `S${i + 1}: ${s}`),
          message: `GAMMA decomposition: work through ${SUBPROBLEMS.length} sub-problems (${SUBPROBLEMS.join('; ')}) one by one.`,
        };
      }
      return {
        vote: { proposalId, approve: true, reason: 'GAMMA: the decomposed plan covers every sub-problem.' },
        message: `GAMMA: ${proposalId} covers the decomposition; adopt it.`,
      };
    default:
      // STUCK and MANUAL: a synthesis that unblocks the discussion.
      return {
        vote: { proposalId, approve: true, reason: `GAMMA (${reason}): the latest proposal is sound enough to adopt.` },
        message: `GAMMA synthesis (${reason}): adopt ${proposalId} and track the open risk as follow-up work.`,
      };
  }
}

/** The simulated answer for a request: a pure function of its input. */
export function simulateAnswer(req: AgentRequest, scenario: Scenario): AgentAnswer {
  const obj = clipObjective(req.objective);
  const seed = `${req.objective}|${req.role}|${req.round}`;
  switch (req.task) {
    case 'research':
      return {
        summary: `ALPHA research on "${obj}": the main options are ${pick(ANGLES, seed)} and ${pick(ANGLES, seed, 2)}; the main risk is ${pick(RISKS, seed)}.`,
      };
    case 'synthesis':
      return {
        summary: `BETA synthesis for "${obj}": success means predictable latency, bounded memory and correct invalidation; watch for ${pick(RISKS, `${seed}|b`)}.`,
      };
    case 'propose': {
      const angle = pick(ANGLES, seed);
      const steps = req.subproblems ?? [];
      return {
        proposal: {
          title: steps.length ? `Round ${req.round}: ${angle}, in ${steps.length} steps` : `Round ${req.round}: ${angle}`,
          rationale: steps.length
            ? `Works through the decomposition: ${steps.join('; ')}.`
            : req.feedback?.length
              ? `Refined after feedback (${req.feedback.join('; ')}): ${angle}, scoped to the hot paths first.`
              : `Start with ${angle}; it addresses "${obj}" with the least moving parts.`,
          complexity: proposalComplexity(req, scenario),
        },
      };
    }
    case 'evaluate': {
      const proposalId = req.proposalId ?? req.proposals?.at(-1)?.id ?? 'none';
      const approve = betaApproves(req, scenario);
      const reason = approve
        ? 'Meets the objective with bounded risk; the refinement closed the open points.'
        : `Not yet: it leaves ${pick(RISKS, `${seed}|e`)} open; narrow the scope and say how it is bounded.`;
      return { vote: { proposalId, approve, reason }, message: reason };
    }
    case 'mediate':
      return mediate(req, scenario);
  }
}

/** A provider failure the scenario injects for this call, if any. */
export function simulatedFault(req: AgentRequest, scenario: Scenario): ProviderError | undefined {
  const first = (req.callAttempt ?? 1) === 1;
  const orch = req.task === 'propose' || req.task === 'evaluate' || req.task === 'mediate';
  if (scenario === 'flaky' && req.task === 'propose' && first) return new ProviderError('simulated provider outage (scenario flaky)', 'server', 503);
  if (scenario === 'revoked' && orch) {
    // BETA's provider keeps failing in the same way until its repeat budget is spent; ALPHA is
    // rate limited once per proposal and recovers after the Retry-After.
    if (req.role === 'beta') return new ProviderError('simulated upstream failure for BETA (scenario revoked)', 'server', 503);
    if (req.role === 'alpha' && first) return new ProviderError('simulated rate limit (scenario revoked)', 'rate_limited', 429, 300);
  }
  return undefined;
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class SimulatorProvider implements LlmProvider {
  readonly mode = 'local' as const;

  async complete(req: AgentRequest, settings: LlmSettings, ctx: CallContext): Promise<Completion> {
    // stuck: BETA goes silent on its first evaluation, long enough for the STUCK trigger to fire.
    const stall = settings.scenario === 'stuck' && req.role === 'beta' && req.task === 'evaluate' && req.round === 1 && (req.orchestration ?? 1) === 1;
    await abortableDelay(stall ? STUCK_STALL_MS : settings.latencyMs, ctx.signal);
    const fault = simulatedFault({ ...req, callAttempt: req.callAttempt ?? ctx.attempt }, settings.scenario);
    if (fault) throw fault;
    const answer = simulateAnswer(req, settings.scenario);
    const promptTokens = estimateTokens(JSON.stringify(req));
    const completionTokens = estimateTokens(JSON.stringify(answer));
    return {
      answer,
      usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
      model: `simulator/${settings.scenario}`,
      simulatedLatencyMs: stall ? STUCK_STALL_MS : settings.latencyMs,
    };
  }
}
