import type { PipelineEvent } from '../common/types';

// One line per event, for terminals (the demo) and plain-text logs.

const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

export function formatEvent(e: PipelineEvent): string {
  const d = e.data;
  switch (e.type) {
    case 'pipeline_spawned':
      return `▶ pipeline ${e.pipeline_id} spawned: "${s(d.objective)}" (mode ${s(d.mode)}, scenario ${s(d.scenario)}, auto-continue ${s(d.auto_continue)})`;
    case 'phase_changed':
      return `── phase ${s(d.phase)} (${s(d.status)})`;
    case 'agent_spawned':
      return `   + ${s(d.role)} started (${s(d.phase) === 'run' ? 'run' : 'orchestration'}) as ${s(d.agent_id)}`;
    case 'orchestration_started':
      return `   orchestration started with ${(d.agents as string[] | undefined)?.join(' and ') ?? 'agents'} on ${s(d.model)}`;
    case 'proposal_posted':
      return `   ${s(d.author)} proposes ${s(d.proposal_id)} (round ${s(d.round)}, complexity ${s(d.complexity)}): ${s(d.title)}`;
    case 'vote_cast':
      return `   ${s(d.agent)} votes ${d.approve ? 'FOR' : 'AGAINST'} ${s(d.proposal_id)}${d.reason && d.reason !== 'proposer' ? `: ${s(d.reason)}` : ''}`;
    case 'agent_message':
      return `   ${s(d.from)} → ${s(d.to)}: ${s(d.content)}`;
    case 'gamma_spawned':
      return `   ⚑ GAMMA spawned (${s(d.reason)})${d.detail ? `: ${s(d.detail)}` : ''}`;
    case 'consensus_reached':
      return `   ✔ consensus on ${s(d.proposal_id)} (${
        (d.votes as { agent: string; approve: boolean }[] | undefined)
          ?.filter((v) => v.approve)
          .map((v) => v.agent)
          .join(', ') ?? ''
      })`;
    case 'agent_revoked':
      return `   ✖ ${s(d.role)} revoked: ${s(d.reason)}${(d.handoff as { left?: string } | undefined)?.left ? ` · handoff: ${s((d.handoff as { left: string }).left)}` : ''}`;
    case 'orchestration_complete':
      return `   orchestration complete: ${s(d.status)}`;
    case 'pipeline_finished':
      return `■ pipeline finished: ${s(d.status)}${d.reason ? ` (${s(d.reason)})` : ''}, ${s(d.rounds)} round(s), ${s(d.tokens)} tokens${typeof d.cost_usd === 'number' && d.cost_usd > 0 ? `, $${d.cost_usd.toFixed(4)}` : ''}`;
    default:
      return `   ${e.type} ${JSON.stringify(d)}`;
  }
}
