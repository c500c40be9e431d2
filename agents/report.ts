import { DESIGN_SECTIONS, DESIGN_SECTION_TITLES } from '../common/limits';
import type {
  AgentMessage,
  AgentSummary,
  Consensus,
  Deliverable,
  GammaReason,
  PipelineSettings,
  PipelineStatusName,
  Proposal,
  Report,
  Vote,
} from '../common/types';
import { bestProposal } from '../governance/recovery';

// Reports are built from what the agents produced, deterministically (no LLM call), so a report can
// be written even when the run was stopped or timed out.

export function buildRunReport(settings: PipelineSettings, agents: AgentSummary[], at: string): Report {
  return {
    pipelineId: settings.pipelineId,
    objective: settings.objective,
    kind: 'run',
    status: 'REPORT',
    summary: `${agents.length} agents analysed "${settings.objective}". ${
      settings.autoContinue ? 'Orchestration starts automatically.' : 'Waiting for approval (the continue update) to orchestrate.'
    }`,
    agents,
    consensus: null,
    notes: [],
    generatedAt: at,
  };
}

export function buildFinalReport(args: {
  settings: PipelineSettings;
  status: PipelineStatusName;
  agents: AgentSummary[];
  consensus: Consensus | null;
  rounds: number;
  notes: string[];
  at: string;
  /** The proposal accepted as partial (recover accept_partial). */
  partial?: { proposalId: string; title: string } | null;
  deliverable: Deliverable;
}): Report {
  const { settings, status, consensus } = args;
  const partial = status !== 'COMPLETED' || !!args.partial;
  const outcome = args.partial
    ? `No consensus; ${args.partial.proposalId} "${args.partial.title}" was accepted as a partial result.`
    : consensus
      ? `Consensus on ${consensus.proposalId} "${consensus.title}" in round ${consensus.round} (${consensus.votes
          .filter((v) => v.approve)
          .map((v) => v.agent.toUpperCase())
          .join(', ')} in favour).`
      : `No consensus after ${args.rounds} round(s).`;
  return {
    pipelineId: settings.pipelineId,
    objective: settings.objective,
    kind: partial ? 'partial' : 'final',
    status,
    summary: `${partial ? `Partial report (${status}). ` : ''}${outcome}`,
    agents: args.agents,
    consensus,
    notes: args.notes,
    generatedAt: args.at,
    deliverable: args.deliverable,
  };
}

/** At most this many dissents and GAMMA notes are listed (the latest): the report stays a few tens of kilobytes. */
const DISSENTS = 10;
const GAMMA_NOTES = 3;

/**
 * The deliverable: the adopted design in full, or (TIMEOUT, partial endings) the best so far marked
 * as not adopted, with its vote record, every dissent, the open risks and GAMMA's part.
 */
export function buildDeliverable(o: {
  proposals: readonly Proposal[];
  votes: readonly Vote[];
  consensus: Consensus | null;
  partial: { proposalId: string } | null;
  subproblems: readonly string[];
  messages: readonly AgentMessage[];
  gammaReason: GammaReason | null;
}): Deliverable {
  const chosenId = o.consensus?.proposalId ?? o.partial?.proposalId;
  const chosen = (chosenId ? o.proposals.find((p) => p.id === chosenId) : undefined) ?? bestProposal(o.proposals, o.votes);
  const dissents = o.votes.filter((v) => !v.approve).slice(-DISSENTS);
  const standing = chosen
    ? o.votes.filter((v) => v.proposalId === chosen.id && !v.approve && v.reason).map((v) => `${v.agent.toUpperCase()}: ${v.reason}`)
    : [];
  return {
    design: chosen ? { ...chosen, adopted: !!o.consensus && o.consensus.proposalId === chosen.id } : null,
    votes: chosen ? o.votes.filter((v) => v.proposalId === chosen.id) : [],
    dissents,
    risks: [...(chosen ? [chosen.design.risks] : []), ...standing],
    gamma: o.gammaReason
      ? {
          reason: o.gammaReason,
          subproblems: [...o.subproblems],
          notes: o.messages
            .filter((m) => m.from === 'gamma')
            .slice(-GAMMA_NOTES)
            .map((m) => m.content),
        }
      : null,
  };
}

/** The final report as Markdown: what a person reads, the API serves and the demo prints. */
export function renderReportMarkdown(r: Report): string {
  const out = [`# ${r.objective}`, '', `**${r.status}** · ${r.kind} report · ${r.generatedAt}`, '', r.summary, ''];
  const d = r.deliverable;
  if (d?.design) {
    const p = d.design;
    out.push(
      `## ${p.adopted ? 'Adopted design' : 'Best design so far (not adopted)'}: ${p.title}`,
      '',
      `${p.id}, round ${p.round}, by ${p.author.toUpperCase()} · complexity ${p.complexity}`,
      '',
      p.summary,
      '',
    );
    for (const s of DESIGN_SECTIONS) out.push(`### ${DESIGN_SECTION_TITLES[s]}`, '', p.design[s], '');
    if (p.subproblems?.length) out.push('### Stages', '', ...p.subproblems.map((x) => `- ${x}`), '');
  } else if (d) {
    out.push('## No design', '', 'No proposal was posted before the end.', '');
  }
  if (d?.votes.length)
    out.push('## Votes', '', ...d.votes.map((v) => `- ${v.agent.toUpperCase()}: ${v.approve ? 'for' : 'against'}${v.reason ? ` (${v.reason})` : ''}`), '');
  if (d?.dissents.length) out.push('## Dissents', '', ...d.dissents.map((v) => `- ${v.agent.toUpperCase()} against ${v.proposalId}: ${v.reason ?? ''}`), '');
  if (d?.risks.length) out.push('## Open risks', '', ...d.risks.map((x) => `- ${x}`), '');
  if (d?.gamma) {
    out.push(`## GAMMA (${d.gamma.reason})`, '');
    if (d.gamma.subproblems.length) out.push('Decomposition:', '', ...d.gamma.subproblems.map((x) => `- ${x}`), '');
    out.push(...d.gamma.notes.map((x) => `> ${x}`), '');
  }
  if (r.agents.length) out.push('## What RUN found', '', ...r.agents.map((a) => `- **${a.role.toUpperCase()}**: ${a.summary}`), '');
  if (r.notes.length) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
