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

function shortObjective(objective: string): string {
  return objective.length > 80 ? `${objective.slice(0, 77)}...` : objective;
}

/** Whether BETA accepts a proposal in this scenario and round. */
function betaApproves(scenario: Scenario, round: number): boolean {
  switch (scenario) {
    case 'no_consensus':
      return false;
    case 'conflict':
      return round >= 3;
    default:
      return round >= 2;
  }
}

/** The simulated answer for a request: a pure function of its input. */
export function simulateAnswer(req: AgentRequest, scenario: Scenario): AgentAnswer {
  const obj = shortObjective(req.objective);
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
      const base = scenario === 'complex' ? 0.9 : 0.35;
      return {
        proposal: {
          title: `Round ${req.round}: ${angle}`,
          rationale: req.feedback?.length
            ? `Refined after feedback (${req.feedback.join('; ')}): ${angle}, scoped to the hot paths first.`
            : `Start with ${angle}; it addresses "${obj}" with the least moving parts.`,
          complexity: Math.min(1, Math.round((base + 0.05 * req.round) * 100) / 100),
        },
      };
    }
    case 'evaluate': {
      const proposalId = req.proposalId ?? req.proposals?.at(-1)?.id ?? 'none';
      const approve = betaApproves(scenario, req.round);
      const reason = approve
        ? 'Meets the objective with bounded risk; the refinement closed the open points.'
        : `Not yet: it leaves ${pick(RISKS, `${seed}|e`)} open; narrow the scope and say how it is bounded.`;
      return { vote: { proposalId, approve, reason }, message: reason };
    }
    case 'mediate': {
      const proposalId = req.proposalId ?? req.proposals?.at(-1)?.id ?? 'none';
      return {
        vote: { proposalId, approve: true, reason: `GAMMA (${req.gammaReason ?? 'MANUAL'}): the latest proposal is sound enough to adopt.` },
        message: `GAMMA mediation (${req.gammaReason ?? 'MANUAL'}): adopt ${proposalId} and track the open risk as follow-up work.`,
      };
    }
  }
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
    await abortableDelay(settings.latencyMs, ctx.signal);
    // flaky: every first attempt at a proposal fails like a provider outage, and Temporal retries it.
    if (settings.scenario === 'flaky' && req.task === 'propose' && ctx.attempt === 1) {
      throw new ProviderError('simulated provider outage (scenario flaky)', 'server', 503);
    }
    const answer = simulateAnswer(req, settings.scenario);
    const promptTokens = estimateTokens(JSON.stringify(req));
    const completionTokens = estimateTokens(JSON.stringify(answer));
    return {
      answer,
      usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
      model: `simulator/${settings.scenario}`,
      simulatedLatencyMs: settings.latencyMs,
    };
  }
}
