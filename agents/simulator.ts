import { clipObjective } from '../common/text';
import type { Design } from '../common/limits';
import type { LlmSettings, Scenario } from '../common/types';
import { domainFor, type Domain } from './simulatedDomains';
import { estimateTokens, ProviderError, type AgentAnswer, type AgentRequest, type CallContext, type Completion, type LlmProvider } from './provider';

// The deterministic local LLM: the same scenario with the same input always takes the same path, so
// every governance path can be driven and replayed without a provider. Pure, apart from the wait.

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

const capitalized = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
const toAll = (content: string): AgentAnswer['messages'] => [{ to: 'all', content }];

/** GAMMA's work follows the reason it was called in for; its vote is on the proposal under review. */
function mediate(req: AgentRequest, scenario: Scenario): AgentAnswer {
  const current = req.proposal ?? req.proposals?.find((p) => p.id === req.proposalId) ?? req.proposals?.at(-1);
  const proposalId = current?.id ?? req.proposalId ?? 'none';
  const reason = req.gammaReason ?? 'MANUAL';
  const why = req.gammaDetail ? ` (called in for ${reason}: ${req.gammaDetail})` : '';
  if (scenario === 'no_consensus' && (req.orchestration ?? 1) === 1) {
    return {
      vote: { proposalId, approve: false, reason: 'GAMMA: none of the proposals meets the objective yet.' },
      messages: toAll('GAMMA could not endorse any proposal.'),
    };
  }
  switch (reason) {
    case 'CONFLICT': {
      // Arbitration: weigh the objections against the design under review, and decide.
      const objections = req.objections?.length ?? 0;
      const decision = `GAMMA arbitration${why}: ${proposalId} answers ${objections ? `the ${objections} standing objection(s)` : 'the objections raised'} with bounded risk; adopt it and track the rest as follow-up work.`;
      return { vote: { proposalId, approve: true, reason: decision }, messages: toAll(decision) };
    }
    case 'COMPLEXITY':
      if (!current || current.complexity > 0.5) {
        return {
          vote: { proposalId, approve: false, reason: 'GAMMA: too complex to adopt in one piece; decomposed into sub-problems.' },
          subproblems: SUBPROBLEMS.map((s, i) => `S${i + 1}: ${s}`),
          messages: toAll(`GAMMA decomposition${why}: work through ${SUBPROBLEMS.length} sub-problems (${SUBPROBLEMS.join('; ')}) one by one.`),
        };
      }
      return {
        vote: { proposalId, approve: true, reason: 'GAMMA: the decomposed plan covers every sub-problem.' },
        messages: toAll(`GAMMA: ${proposalId} covers the decomposition; adopt it.`),
      };
    default:
      // STUCK and MANUAL: a synthesis that unblocks the discussion.
      return {
        vote: { proposalId, approve: true, reason: `GAMMA (${reason}): the design under review is sound enough to adopt.` },
        messages: toAll(`GAMMA synthesis${why}: adopt ${proposalId} and track its open risks as follow-up work.`),
      };
  }
}

/** A design in sections for the chosen approach, refined by what the proposer was asked. */
function design(d: Domain, approach: string, seed: string, req: AgentRequest, answered: boolean): Design {
  const risks = [pick(d.risks, seed), pick(d.risks, seed, 1)].filter((r, i, all) => all.indexOf(r) === i);
  return {
    approach: `Use ${approach}.${req.subproblems?.length ? ` Delivered in stages: ${req.subproblems.join('; ')}.` : ''}${answered ? ` ${d.answer}` : ''}`,
    components: d.components.join('; '),
    tradeoffs: `Chosen over ${pick(d.approaches, seed, 1)}: fewer moving parts, at the cost of ${pick(d.risks, seed, 2)} needing explicit handling.`,
    risks: risks.map((r) => `${r}: bounded by limits, alerts and a tested fallback`).join('; '),
    rollout: 'Behind a flag: shadow mode first, then 5 %, 50 % and 100 % of traffic, each step gated on error rate and latency.',
  };
}

/** The simulated answer for a request: a pure function of its input. */
export function simulateAnswer(req: AgentRequest, scenario: Scenario): AgentAnswer {
  const obj = clipObjective(req.objective);
  const seed = `${req.objective}|${req.role}|${req.round}`;
  const d = domainFor(req.objective);
  switch (req.task) {
    case 'research':
      return {
        summary: `ALPHA research on "${obj}": the main options are ${pick(d.approaches, seed)} and ${pick(d.approaches, seed, 2)}; the main risk is ${pick(d.risks, seed)}.`,
      };
    case 'synthesis':
      return { summary: `BETA success criteria for "${obj}": ${d.criteria}; watch for ${pick(d.risks, `${seed}|b`)}.` };
    case 'propose': {
      const approach = pick(d.approaches, seed);
      const steps = req.subproblems ?? [];
      const question = req.inbox?.find((m) => m.from !== req.role && m.content.includes('?'));
      const refined = req.objections?.length ? ` Refined after ${req.objections.length} objection(s).` : '';
      return {
        proposal: {
          title: steps.length ? `Round ${req.round}: ${approach}, in ${steps.length} steps` : `Round ${req.round}: ${approach}`,
          summary: `${steps.length ? `Works through the decomposition in ${steps.length} steps: ` : ''}${capitalized(approach)} for "${obj}".${refined}${question ? ` Answers ${question.from.toUpperCase()}: ${d.answer}` : ''}`,
          design: design(d, approach, seed, req, !!question),
          complexity: proposalComplexity(req, scenario),
        },
        ...(question ? { messages: [{ to: question.from, content: `Answered in my proposal: ${d.answer}` }] } : {}),
      };
    }
    case 'evaluate': {
      const proposalId = req.proposal?.id ?? req.proposalId ?? req.proposals?.at(-1)?.id ?? 'none';
      const approve = betaApproves(req, scenario);
      const reason = approve
        ? 'Meets the success criteria with bounded risk; the refinement closed the open points.'
        : `Not yet: it leaves ${pick(d.risks, `${seed}|e`)} open; narrow the scope and say how it is bounded.`;
      // In its first review BETA asks the question the objective turns on; the next proposal answers it.
      const ask = !approve && req.round === 1 && (req.orchestration ?? 1) === 1;
      return { vote: { proposalId, approve, reason }, ...(ask ? { messages: [{ to: 'alpha' as const, content: d.question }] } : {}) };
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
