// The workflow types the worker registers (names from the contract).
export { pipelineWorkflow } from './pipeline';
export { agentWorkflow } from './agent';
