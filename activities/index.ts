import type { createGammaActivities } from './gamma';
import type { createLlmActivities } from './llm';
import type { createMirrorActivities } from './mirror';
import type { createSettingsActivities } from './settings';

export { createGammaActivities } from './gamma';
export { createLlmActivities } from './llm';
export { createMirrorActivities } from './mirror';
export { createSettingsActivities } from './settings';

// The activity interfaces workflows proxy (types only cross into workflow code).
export type LlmActivities = ReturnType<typeof createLlmActivities>;
export type MirrorActivities = ReturnType<typeof createMirrorActivities>;
export type SettingsActivities = ReturnType<typeof createSettingsActivities>;
export type GammaActivities = ReturnType<typeof createGammaActivities>;
