import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// The contract's four Keyword search attributes, kept current by the pipeline workflow.
export const PipelineStatusKey = defineSearchAttributeKey('PipelineStatus', SearchAttributeType.KEYWORD);
export const PipelinePhaseKey = defineSearchAttributeKey('PipelinePhase', SearchAttributeType.KEYWORD);
export const LlmModeKey = defineSearchAttributeKey('LlmMode', SearchAttributeType.KEYWORD);
export const GammaReasonKey = defineSearchAttributeKey('GammaReason', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTE_NAMES = ['PipelineStatus', 'PipelinePhase', 'LlmMode', 'GammaReason'] as const;
