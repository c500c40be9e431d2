import { Context } from '@temporalio/activity';
import { spawnGammaSignal, type SpawnGammaArgs } from '../common/messages';

// Automatic GAMMA triggers go through the public `spawnGamma` signal like a person's request, so
// every GAMMA start shows in the history the same way. A workflow cannot signal itself (the server
// rejects it), so this small activity sends it with the worker's own client.

export function createGammaActivities() {
  return {
    async requestGamma(args: { workflowId: string } & SpawnGammaArgs): Promise<void> {
      const { workflowId, ...signal } = args;
      await Context.current().client.workflow.getHandle(workflowId).signal(spawnGammaSignal, signal);
    },
  };
}
