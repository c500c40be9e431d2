import type { createGammaActivities } from './gamma';
import type { createLedgerActivities } from './ledger';
import type { createLlmActivities } from './llm';
import type { createPublishActivities } from './publish';
import type { createSettingsActivities } from './settings';

export { createGammaActivities } from './gamma';
export { createLedgerActivities } from './ledger';
export { createLlmActivities } from './llm';
export { createPublishActivities } from './publish';
export { createSettingsActivities } from './settings';

// The activity interfaces workflows proxy (types only cross into workflow code).
export type LlmActivities = ReturnType<typeof createLlmActivities>;
export type PublishActivities = ReturnType<typeof createPublishActivities>;
export type LedgerActivities = ReturnType<typeof createLedgerActivities>;
export type SettingsActivities = ReturnType<typeof createSettingsActivities>;
export type GammaActivities = ReturnType<typeof createGammaActivities>;
