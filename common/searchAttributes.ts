import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// The contract's four Keyword search attributes, kept current by the pipeline workflow.
export const PipelineStatusKey = defineSearchAttributeKey('PipelineStatus', SearchAttributeType.KEYWORD);
export const PipelinePhaseKey = defineSearchAttributeKey('PipelinePhase', SearchAttributeType.KEYWORD);
export const LlmModeKey = defineSearchAttributeKey('LlmMode', SearchAttributeType.KEYWORD);
export const GammaReasonKey = defineSearchAttributeKey('GammaReason', SearchAttributeType.KEYWORD);
// Not in the contract: set to `ledger` or `redis` while the pipeline's outbox is stalled (workflows/outbox.ts),
// removed when it resumes; the API's /metrics counts them (outbox_stalled_pipelines), operators filter on it.
export const OutboxStalledKey = defineSearchAttributeKey('OutboxStalled', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTE_NAMES = ['PipelineStatus', 'PipelinePhase', 'LlmMode', 'GammaReason', 'OutboxStalled'] as const;
