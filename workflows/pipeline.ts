import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  log,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SettingsActivities } from '../activities';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { CONTRACT_DEFAULTS, InputError, parsePipelineInput, resolveSettings } from '../common/input';
import {
  agentProgressSignal,
  agentTurnResultSignal,
  continueUpdate,
  orchestrationQuery,
  recoverUpdate,
  reportQuery,
  spawnGammaSignal,
  statusQuery,
  stopSignal,
} from '../common/messages';
import { LOCAL_MODEL, type PipelineInput, type PipelineResult } from '../common/types';
import { finish } from './finish';
import { orchestrate, runAgents, type Ending } from './phases';
import { PipelineState } from './pipelineState';
import { Steering } from './steering';

// pipelineWorkflow: SPAWN → RUN (ALPHA and BETA in parallel) → REPORT (report, checkpoint, maybe wait
// for `continue`) → ORCHESTRATE (rounds until consensus) → COMPLETE (result, final checkpoint, events).
// This function wires the messages to the state's owners and runs the phases; every ending —
// consensus, no consensus, deadline, stop, cancellation, failure — goes through finish(), which writes
// the final report, one checkpoint and exactly one result row.

const { pipelineDefaults } = proxyLocalActivities<SettingsActivities>({ startToCloseTimeout: '10s' });

export async function pipelineWorkflow(rawInput: PipelineInput): Promise<PipelineResult> {
  let input: PipelineInput;
  try {
    input = parsePipelineInput(rawInput);
  } catch (err) {
    if (err instanceof InputError)
      throw ApplicationFailure.create({ message: err.message, type: 'InvalidInput', nonRetryable: true, details: [{ field: err.field }] });
    throw err;
  }
  const pipelineId = input.pipelineId ?? pipelineIdFromWorkflowId(workflowInfo().workflowId);
  // Handlers are registered before the first await, so a query or update sent at once finds them;
  // the contract's defaults stand in until the worker's own arrive a moment later.
  const s = new PipelineState(resolveSettings(input, pipelineId, CONTRACT_DEFAULTS));
  const steering = new Steering(s);
  // A spent cost budget stops the pipeline as `stop` does: agents cancelled, report, result, events.
  s.agents.onCostSpent = (reason) => steering.stop({ reason });

  setHandler(statusQuery, () => s.statusView());
  setHandler(reportQuery, () => s.report);
  setHandler(orchestrationQuery, () => s.orchestrationView());
  setHandler(agentTurnResultSignal, (reply) => s.agents.onReply(reply));
  setHandler(agentProgressSignal, (p) => s.agents.onProgress(p));
  setHandler(spawnGammaSignal, (args) => s.gamma.request(args));
  setHandler(stopSignal, (args) => steering.stop(args));
  setHandler(continueUpdate, (args) => steering.continue(args), { validator: (args) => steering.validateContinue(args) });
  setHandler(recoverUpdate, (args) => steering.recover(args), { validator: (args) => steering.validateRecover(args) });

  s.settings = resolveSettings(input, pipelineId, await pipelineDefaults());
  steering.continueRequested ||= s.settings.autoContinue;
  s.outbox.recordPipeline(s.settings, s.startedAt);
  s.outbox.emit('pipeline_spawned', {
    objective: s.settings.objective,
    mode: s.settings.mode,
    model: s.settings.mode === 'local' ? LOCAL_MODEL : s.settings.model,
    scenario: s.settings.scenario,
    auto_continue: s.settings.autoContinue,
  });
  s.enter('SPAWN', 'SPAWNING');
  s.outbox.flush();

  const ending: Ending = { status: 'COMPLETED', notes: [], summaries: [] };
  let failure: unknown;
  try {
    await steering.main.run(async () => {
      const run = await runAgents(s, ending);
      if (!run) return;
      await steering.approval();
      await orchestrate(s, steering, ending, run.revoked);
    });
  } catch (err) {
    failure = err;
    if (isCancellation(err)) {
      ending.status = 'STOPPED';
      ending.reason = steering.stopReason ?? 'workflow cancelled';
      s.orchestration.status = s.phase === 'ORCHESTRATE' ? 'STOPPED' : s.orchestration.status;
    } else {
      ending.status = s.phase === 'ORCHESTRATE' ? 'ORCHESTRATION_ERROR' : 'FAILED';
      ending.reason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
      if (s.phase === 'ORCHESTRATE') s.orchestration.status = 'ERROR';
      log.error('pipeline failed', { pipelineId, status: ending.status, reason: ending.reason });
    }
  }

  const result = await CancellationScope.nonCancellable(() => finish(s, ending));

  // Cancellation and unexpected failures end the execution as such (the Web UI shows them), after
  // everything above was recorded; business outcomes complete with their status.
  // A CancelledFailure of our own: the caught error may be a child's or activity's failure wrapping
  // the cancellation, and rethrowing that would mark the execution Failed instead of Canceled.
  if (failure && isCancellation(failure) && steering.stopReason === undefined) throw new CancelledFailure('pipeline cancelled');
  if (ending.status === 'FAILED' || ending.status === 'ORCHESTRATION_ERROR') {
    throw ApplicationFailure.create({ message: `pipeline ${ending.status}: ${ending.reason}`, type: ending.status, nonRetryable: true });
  }
  return result;
}
