import { AGENT_PHASES, ROLES, type AgentPhase, type Role } from './types';

// Workflow ids are the business ids people type and see in the Web UI: `pipeline-<id>` for a pipeline,
// `pipeline-<id>-<phase>-<role>` for its agents. Built and read only here.

const PREFIX = 'pipeline-';

/** The workflow types by name, as the client starts them and visibility queries filter on them. */
export const PIPELINE_WORKFLOW_TYPE = 'pipelineWorkflow';
export const AGENT_WORKFLOW_TYPE = 'agentWorkflow';
const AGENT_SUFFIX = new RegExp(`-(${AGENT_PHASES.join('|')})-(${ROLES.join('|')})$`);

export const pipelineWorkflowId = (pipelineId: string): string => `${PREFIX}${pipelineId}`;

export const agentWorkflowId = (pipelineId: string, phase: AgentPhase, role: Role): string => `${pipelineWorkflowId(pipelineId)}-${phase}-${role}`;

/** `pipeline-demo` → `demo`; anything else is taken as it is. For the pipeline workflow's own id. */
export const pipelineIdFromWorkflowId = (workflowId: string): string => (workflowId.startsWith(PREFIX) ? workflowId.slice(PREFIX.length) : workflowId);

export interface ParsedWorkflowId {
  pipelineId: string;
  /** Set for an agent's workflow. */
  agent?: { phase: AgentPhase; role: Role };
}

/**
 * Any workflow id of ours: `pipeline-demo` → demo; `pipeline-demo-orch-beta` → demo's orchestration
 * BETA; null when it is not ours. A pipeline id may itself end like an agent (`x-run-alpha`): such an
 * id reads as the agent's, so code that knows it holds a pipeline's id uses pipelineIdFromWorkflowId.
 */
export function parseWorkflowId(workflowId: string): ParsedWorkflowId | null {
  if (!workflowId.startsWith(PREFIX)) return null;
  const rest = workflowId.slice(PREFIX.length);
  const m = AGENT_SUFFIX.exec(rest);
  if (!m || m.index === 0) return { pipelineId: rest };
  return { pipelineId: rest.slice(0, m.index), agent: { phase: m[1] as AgentPhase, role: m[2] as Role } };
}

/** Activities that write the ledger run on their own queue, so one writer can own the SQLite file. */
export const ledgerTaskQueue = (taskQueue: string): string => `${taskQueue}-ledger`;

/**
 * Provider calls (openrouter mode) run on their own queue, whose server-side activity rate
 * (LLM_RATE_LIMIT) holds however many workers poll it.
 */
export const llmTaskQueue = (taskQueue: string): string => `${taskQueue}-llm`;

/**
 * A pipeline id: letters, digits, "_", "-", "." (at most 100), and not ending like an agent's id
 * (`-run-alpha`, `-orch-beta`, ...). `pipeline-victim-orch-alpha`, the workflow id of a pipeline
 * `victim-orch-alpha`, is also the id of pipeline victim's orchestration ALPHA: whichever starts first
 * would block, or be taken for, the other. The negative look-ahead keeps the rule in the one pattern
 * that the API's schemas and the workflow's input check share.
 */
export const PIPELINE_ID_PATTERN = new RegExp(`^(?!.*-(?:${AGENT_PHASES.join('|')})-(?:${ROLES.join('|')})$)[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`);

/** The pattern in words, for error messages. */
export const PIPELINE_ID_RULE = `letters, digits, "_", "-" or "." (at most 100), starting with a letter or digit, and not ending in -<${AGENT_PHASES.join('|')}>-<${ROLES.join('|')}> (an agent's workflow id)`;

/** Why `id` cannot be a pipeline id, or null when it can. */
export const pipelineIdProblem = (id: string): string | null =>
  PIPELINE_ID_PATTERN.test(id) ? null : `pipeline id "${id.slice(0, 120)}" must be ${PIPELINE_ID_RULE}`;
