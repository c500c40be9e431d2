import type { Redis } from 'ioredis';
import { buildDeliverable, buildFinalReport, buildRunReport } from '../agents/report';
import type { AgentAnswer, AgentRequest, AgentTask } from '../agents/provider';
import { SimulatorProvider } from '../agents/simulator';
import { CONTRACT_DEFAULTS, resolveSettings } from '../common/input';
import type { EventType, GammaReason, PipelineEvent, Proposal, Role, Vote } from '../common/types';
import { checkVote, findConsensus } from '../governance/consensus';
import { triggersAfterProposal, type GammaTrigger } from '../governance/gammaTriggers';
import { publishEvents } from '../lib/events';

// P3's baseline: the same pipeline as plain in-process async code, with no Temporal and no durability.
// The same simulator, the same requests, the same governance rules (consensus, GAMMA triggers) and the
// same events published to Redis; what it lacks is everything Temporal adds: history, timers,
// children, retries, recovery. Temporal's time ÷ this time is the price of durability.

export interface BaselineResult {
  status: 'COMPLETED' | 'NO_CONSENSUS';
  rounds: number;
  wallMs: number;
  llmCriticalPathMs: number;
}

export async function runBaseline(opts: {
  pipelineId: string;
  objective: string;
  scenario: 'consensus' | 'complex' | 'conflict';
  latencyMs: number;
  redis?: Redis;
}): Promise<BaselineResult> {
  const started = performance.now();
  const settings = resolveSettings({ objective: opts.objective, scenario: opts.scenario, latencyMs: opts.latencyMs }, opts.pipelineId, CONTRACT_DEFAULTS);
  const llm = { mode: 'local' as const, model: settings.model, scenario: settings.scenario, latencyMs: settings.latencyMs };
  const provider = new SimulatorProvider();
  let criticalPath = 0;
  let seq = 0;
  const pending: Promise<unknown>[] = [];
  const emit = (type: EventType, data: Record<string, unknown>) => {
    const event: PipelineEvent = {
      type,
      pipeline_id: opts.pipelineId,
      seq: ++seq,
      ts: new Date().toISOString(),
      data: { pipeline_id: opts.pipelineId, ...data },
    };
    // Watchers are told beside the critical path, as the workflow's outbox does.
    if (opts.redis) pending.push(publishEvents(opts.redis, opts.pipelineId, [event]));
  };
  const call = async (role: Role, task: AgentTask, round: number, extra: Partial<AgentRequest> = {}): Promise<{ answer: AgentAnswer; ms: number }> => {
    const request: AgentRequest = { pipelineId: opts.pipelineId, role, task, objective: settings.objective, round, orchestration: 1, callAttempt: 1, ...extra };
    const c = await provider.complete(request, llm, { attempt: 1 });
    return { answer: c.answer, ms: c.simulatedLatencyMs };
  };

  emit('pipeline_spawned', { objective: settings.objective, mode: 'local' });
  emit('phase_changed', { phase: 'RUN', status: 'RUNNING' });
  const [alpha, beta] = await Promise.all([call('alpha', 'research', 0), call('beta', 'synthesis', 0)]);
  criticalPath += Math.max(alpha.ms, beta.ms);
  const summaries = [
    { role: 'alpha' as const, summary: alpha.answer.summary ?? '' },
    { role: 'beta' as const, summary: beta.answer.summary ?? '' },
  ];
  buildRunReport(settings, summaries, new Date().toISOString());
  emit('phase_changed', { phase: 'REPORT', status: 'REPORT' });
  emit('orchestration_started', { mode: 'local', agents: ['ALPHA', 'BETA'] });

  const proposals: Proposal[] = [];
  const votes: Vote[] = [];
  const active: Role[] = ['alpha', 'beta'];
  let gamma: GammaReason | null = null;
  let objections: string[] = [];
  let inbox: { round: number; from: Role; to: 'alpha'; content: string }[] = [];
  let subproblems: string[] | undefined;
  const open = () => proposals.slice(-3).map(({ id, title, complexity, author }) => ({ id, title, complexity, author }));
  const vote = (v: Vote) => {
    if (!checkVote(v, proposals, votes, active).ok) return;
    votes.push(v);
    emit('vote_cast', { agent: v.agent.toUpperCase(), proposal_id: v.proposalId, approve: v.approve });
  };
  let round = 0;
  let consensus = null;
  while (round < settings.maxRounds && !consensus) {
    round += 1;
    const p = await call('alpha', 'propose', round, { proposals: open(), objections, inbox, subproblems });
    criticalPath += p.ms;
    const proposal: Proposal = { ...p.answer.proposal!, id: `P${proposals.length + 1}`, round, author: 'alpha' };
    proposals.push(proposal);
    emit('proposal_posted', { proposal_id: proposal.id, author: 'ALPHA', title: proposal.title, round });
    vote({ proposalId: proposal.id, agent: 'alpha', approve: true, reason: 'proposer' });
    const trigger: GammaTrigger | undefined = gamma ? undefined : triggersAfterProposal(proposal, proposals, null, settings.thresholds);
    if (trigger) {
      gamma = trigger.reason;
      active.push('gamma');
      emit('gamma_spawned', { reason: gamma });
    }
    const reviewers: Role[] = gamma ? ['beta', 'gamma'] : ['beta'];
    const reviews = await Promise.all(
      reviewers.map((role) =>
        role === 'gamma'
          ? call('gamma', 'mediate', round, { proposalId: proposal.id, proposal, proposals: open(), objections, gammaReason: gamma ?? 'MANUAL' })
          : call('beta', 'evaluate', round, { proposalId: proposal.id, proposal, proposals: open() }),
      ),
    );
    criticalPath += Math.max(...reviews.map((r) => r.ms));
    inbox = [];
    objections = [];
    reviews.forEach((r, i) => {
      for (const m of r.answer.messages ?? []) {
        if (m.to === 'alpha' || m.to === 'all') inbox.push({ round, from: reviewers[i]!, to: 'alpha', content: m.content });
        emit('agent_message', { from: reviewers[i]!.toUpperCase(), to: m.to.toUpperCase(), content: m.content });
      }
      if (r.answer.vote && !r.answer.vote.approve) objections.push(`${reviewers[i]!.toUpperCase()}: ${r.answer.vote.reason}`);
      if (r.answer.subproblems?.length) subproblems = r.answer.subproblems;
      if (r.answer.vote) vote({ ...r.answer.vote, agent: reviewers[i]! });
    });
    consensus = findConsensus(proposals, votes, active);
  }
  const status = consensus ? 'COMPLETED' : 'NO_CONSENSUS';
  if (consensus) emit('consensus_reached', { proposal_id: consensus.proposalId });
  buildFinalReport({
    settings,
    status: consensus ? 'COMPLETED' : 'ORCHESTRATION_FAILED',
    agents: summaries,
    consensus,
    rounds: round,
    notes: [],
    at: new Date().toISOString(),
    deliverable: buildDeliverable({ proposals, votes, consensus, partial: null, subproblems: subproblems ?? [], messages: [], gammaReason: gamma ?? null }),
  });
  emit('pipeline_finished', { status, rounds: round });
  await Promise.all(pending);
  return { status, rounds: round, wallMs: performance.now() - started, llmCriticalPathMs: criticalPath };
}
