import type { PipelineDefaults } from '../common/types';

// Workflows cannot read the environment; the worker's defaults reach them through this (local)
// activity, recorded once in history so replay sees the same values. Holds no secrets.
export function createSettingsActivities(defaults: PipelineDefaults) {
  return {
    async pipelineDefaults(): Promise<PipelineDefaults> {
      return defaults;
    },
  };
}
