import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SettingsActivities } from '../activities';
import { parseWorkflowId, pipelineIdFromWorkflowId } from '../common/ids';
import { CONTRACT_DEFAULTS, InputError, parsePipelineInput, resolveSettings } from '../common/input';
import {
  agentProgressSignal,
  agentTurnResultSignal,
  continueUpdate,
  orchestrationQuery,
  recoverUpdate,
  reportQuery,
  requestGammaUpdate,
  requestStopUpdate,
  spawnGammaSignal,
  statusQuery,
  stopSignal,
} from '../common/messages';
import { LOCAL_MODEL, type PipelineInput, type PipelineResult, type Role } from '../common/types';
import { restoreCarry, takeCarry, type PipelineCarry, type Resume } from './carry';
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

const invalidInput = (message: string, field: string) => ApplicationFailure.create({ message, type: 'InvalidInput', nonRetryable: true, details: [{ field }] });

/**
 * `carry` is the state a run hands the next when it continues as new (workflows/carry.ts); only a
 * continued run accepts one.
 */
export async function pipelineWorkflow(rawInput: PipelineInput, carry?: PipelineCarry): Promise<PipelineResult> {
  let input: PipelineInput;
  try {
    input = parsePipelineInput(rawInput);
  } catch (err) {
    if (err instanceof InputError) throw invalidInput(err.message, err.field);
    throw err;
  }
  const pipelineId = checkIdentity(input);
  if (carry !== undefined && !workflowInfo().continuedFromExecutionRunId) {
    throw invalidInput('a second argument (the state a run hands the next) is only accepted when the pipeline continues as new', '(carry)');
  }
  // Handlers are registered before the first await, so a query or update sent at once finds them;
  // the contract's defaults stand in until the worker's own arrive a moment later.
  const s = new PipelineState(resolveSettings(input, pipelineId, CONTRACT_DEFAULTS));
  const steering = new Steering(s);
  // A spent cost budget stops the pipeline as `stop` does: agents cancelled, report, result, events.
  s.agents.onCostSpent = (reason) => steering.stop({ reason });

  setHandler(statusQuery, () => s.statusView());
  setHandler(reportQuery, () => s.report);
  setHandler(orchestrationQuery, () => s.orchestrationView());
  // Signals take any payload (anyone with a Temporal client can send one): the handlers check what
  // they read and drop what is not theirs, since a handler that throws would fail the workflow task.
  setHandler(agentTurnResultSignal, (reply) => s.agents.onReply(reply));
  setHandler(agentProgressSignal, (p) => s.agents.onProgress(p));
  setHandler(spawnGammaSignal, (args) => void s.gamma.request(args));
  setHandler(stopSignal, (args) => void steering.stop(args));
  setHandler(requestGammaUpdate, (args) => s.gamma.request(args)!, {
    validator: (args) => {
      const why = steering.stopReason !== undefined ? 'the pipeline is stopping' : s.gamma.rejection(args, true);
      if (why) throw new Error(`pipeline ${pipelineId}: ${why}`);
    },
  });
  setHandler(requestStopUpdate, (args) => steering.stop(args), { validator: (_args) => steering.validateStop() });
  setHandler(continueUpdate, (args) => steering.continue(args), { validator: (args) => steering.validateContinue(args) });
  setHandler(recoverUpdate, (args) => steering.recover(args), { validator: (args) => steering.validateRecover(args) });

  const ending: Ending = { status: 'COMPLETED', notes: [], summaries: [] };
  if (carry) {
    // A continued run: the pipeline's row, its first events and RUN belong to the runs before.
    restoreCarry(s, ending, carry);
    steering.continueRequested = carry.resume.at !== 'approval';
  } else {
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
  }

  let failure: unknown;
  let next: Resume | undefined;
  try {
    await steering.main.run(async () => {
      const resume = carry?.resume;
      if (resume && resume.at !== 'approval') {
        next = await orchestrate(s, steering, ending, [], resume);
        return;
      }
      let revokedInRun: readonly Role[];
      if (resume) revokedInRun = resume.revokedInRun;
      else {
        const run = await runAgents(s, ending);
        if (!run) return;
        revokedInRun = run.revoked;
      }
      const until = resume?.until ?? Date.now() + s.settings.approvalWindowSeconds * 1000;
      const approval = await steering.approval(until);
      if (approval === 'full') {
        next = { at: 'approval', until, revokedInRun: [...revokedInRun] };
        return;
      }
      if (approval === 'expired') {
        const window = s.settings.approvalWindowSeconds;
        ending.status = 'TIMEOUT';
        ending.reason = `not approved: no continue within the ${window}s approval window`;
        s.outbox.emit('agent_message', { from: 'PIPELINE', to: 'ALL', content: `the ${window}s approval window passed without continue; the pipeline closes` });
        return;
      }
      next = await orchestrate(s, steering, ending, revokedInRun);
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

  if (next && !failure) {
    // A rerun, or a wait whose history signals have grown, goes on in a new run of this workflow (same
    // id, fresh history; workflows/carry.ts), once everything recorded so far is written and the
    // handlers are done. A stop that came meanwhile ends the pipeline instead.
    await s.outbox.drain();
    await condition(allHandlersFinished);
    if (steering.stopReason === undefined) return await continueAsNew<typeof pipelineWorkflow>(rawInput, takeCarry(s, ending, next));
    ending.status = 'STOPPED';
    ending.reason = steering.stopReason;
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

/**
 * The pipeline's id, refusing an input that could reach another pipeline's state before anything is
 * touched: an input.pipelineId other than the one in the workflow id (it would clear and write that
 * pipeline's blackboard and events), and a workflow id that is one of another pipeline's agents'
 * (`pipeline-victim-orch-alpha` would hold the id `victim`'s orchestration needs for its child).
 */
function checkIdentity(input: PipelineInput): string {
  const { workflowId } = workflowInfo();
  const own = pipelineIdFromWorkflowId(workflowId);
  if (input.pipelineId !== undefined && input.pipelineId !== own) {
    throw invalidInput(
      `invalid pipeline input: field "pipelineId" is "${input.pipelineId}" but the workflow id ${workflowId} is pipeline "${own}"'s`,
      'pipelineId',
    );
  }
  const parsed = parseWorkflowId(workflowId);
  if (parsed?.agent) {
    throw invalidInput(
      `workflow id ${workflowId} is the id of pipeline "${parsed.pipelineId}"'s ${parsed.agent.role.toUpperCase()} agent (${parsed.agent.phase}); a pipeline may not take it`,
      'pipelineId',
    );
  }
  return own;
}
