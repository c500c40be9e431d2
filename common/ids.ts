import type { AgentPhase, Role } from './types';

// Workflow ids are the business ids people type and see in the Web UI.
export const pipelineWorkflowId = (pipelineId: string): string => `pipeline-${pipelineId}`;

export const agentWorkflowId = (pipelineId: string, phase: AgentPhase, role: Role): string => `pipeline-${pipelineId}-${phase}-${role}`;

/** `pipeline-demo` → `demo`; anything else is taken as it is. */
export const pipelineIdFromWorkflowId = (workflowId: string): string =>
  workflowId.startsWith('pipeline-') ? workflowId.slice('pipeline-'.length) : workflowId;

/** Activities that write the ledger run on their own queue, so one writer can own the SQLite file. */
export const ledgerTaskQueue = (taskQueue: string): string => `${taskQueue}-ledger`;

/**
 * Provider calls (openrouter mode) run on their own queue, whose server-side activity rate
 * (LLM_RATE_LIMIT) holds however many workers poll it.
 */
export const llmTaskQueue = (taskQueue: string): string => `${taskQueue}-llm`;

export const PIPELINE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
