import { isCancellation, startChild, type ChildWorkflowHandle } from '@temporalio/workflow';
import { agentWorkflowId } from '../common/ids';
import type { AgentPhase, AgentView, GammaReason, Role } from '../common/types';
import { agentWorkflow } from './agent';
import type { PipelineState } from './pipelineState';

// Starting an agent child: business id, a static summary the Web UI shows, the view the status query
// reports, and the agent_spawned event.

export type AgentStarter = (role: Role, phase: AgentPhase, gammaReason?: GammaReason) => Promise<ChildWorkflowHandle<typeof agentWorkflow>>;

const PHASE_LABEL: Record<AgentPhase, string> = { run: 'run', orch: 'orchestration' };
const RUNTIME: Record<Role, string> = { alpha: 'temporal:research', beta: 'temporal:synthesis', gamma: 'temporal:mediator' };

export function agentStarter(s: PipelineState): AgentStarter {
  return async (role, phase, gammaReason) => {
    const { pipelineId, objective } = s.settings;
    const id = agentWorkflowId(pipelineId, phase, role);
    const { budgets } = s.settings;
    const view: AgentView = { id, role, phase, status: 'STARTING', errors: 0, tokens: 0, violations: 0, budget: { ...budgets.errors, tokens: budgets.tokens } };
    s.agents.set(id, view);
    const objectiveShort = objective.length > 90 ? `${objective.slice(0, 87)}...` : objective;
    const handle = await startChild(agentWorkflow, {
      workflowId: id,
      staticSummary: `${role.toUpperCase()} · ${PHASE_LABEL[phase]} · ${objectiveShort}`,
      staticDetails: `Agent **${role.toUpperCase()}** of pipeline \`${pipelineId}\`${gammaReason ? `, spawned for ${gammaReason}` : ''}.`,
      args: [
        {
          pipelineId,
          role,
          phase,
          objective,
          llm: {
            mode: s.settings.mode,
            model: s.settings.model,
            ...(s.settings.models ? { models: s.settings.models } : {}),
            scenario: s.settings.scenario,
            latencyMs: s.settings.latencyMs,
          },
          budget: { errors: budgets.errors, tokens: budgets.tokens },
          gammaReason,
        },
      ],
    });
    view.status = 'RUNNING';
    s.emit('agent_spawned', { agent_id: id, role: role.toUpperCase(), runtime: RUNTIME[role], phase });
    s.touch();
    handle.result().then(
      (r) => {
        Object.assign(view, { status: r.revoked ? 'REVOKED' : 'COMPLETED', tokens: r.tokens, errors: r.errors, violations: r.violations });
        if (r.revoked) view.revokedReason = r.revoked.reason;
      },
      (err: unknown) => {
        if (view.status !== 'REVOKED') view.status = isCancellation(err) ? 'CANCELLED' : 'FAILED';
      },
    );
    return handle;
  };
}
