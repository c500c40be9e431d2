import type { AgentSummary, Consensus, PipelineSettings, PipelineStatusName, Report } from '../common/types';

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
  };
}

/** A report as plain text, for terminals and logs. */
export function renderReport(r: Report): string {
  const lines = [`Report (${r.kind}, ${r.status}) for "${r.objective}"`, `  ${r.summary}`];
  for (const a of r.agents) lines.push(`  ${a.role.toUpperCase()}: ${a.summary}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
