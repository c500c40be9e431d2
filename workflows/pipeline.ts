import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  log,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { SettingsActivities } from '../activities';
import { buildFinalReport, buildRunReport } from '../agents/report';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { CONTRACT_DEFAULTS, InputError, parsePipelineInput, resolveSettings } from '../common/input';
import {
  agentProgressSignal,
  agentTurnResultSignal,
  continueUpdate,
  orchestrationQuery,
  type ContinueArgs,
  type RecoverArgs,
  type RecoverResult,
  type SpawnGammaArgs,
  type StopArgs,
  recoverUpdate,
  reportQuery,
  spawnGammaSignal,
  statusQuery,
  stopSignal,
} from '../common/messages';
import {
  GAMMA_REASONS,
  LLM_MODES,
  RECOVER_ACTIONS,
  type AgentSummary,
  type PipelineInput,
  type PipelineResult,
  type PipelineStatusName,
  type RecoverAction,
  type Role,
} from '../common/types';
import { partialResult } from '../governance/deadline';
import { bestProposal, recoverRejection, recoveryPlan, rerunRejection } from '../governance/recovery';
import { agentStarter } from './agents';
import { Orchestration } from './orchestration';
import { PipelineState } from './pipelineState';
import { nowIso } from './time';

// pipelineWorkflow: SPAWN → RUN (ALPHA and BETA in parallel) → REPORT (report, checkpoint, maybe wait
// for `continue`) → ORCHESTRATE (rounds until consensus) → COMPLETE (result, final checkpoint, events).
// Every ending — consensus, no consensus, deadline, stop, cancellation, failure — goes through
// finish(), which writes the final report, one checkpoint and exactly one result row.

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
  const startAgent = agentStarter(s);
  let orchestration: Orchestration | null = null;
  const summaries: AgentSummary[] = [];
  const notes: string[] = [];
  let continueRequested = false;
  let stopReason: string | undefined;
  let recoverAction: RecoverAction | null = null;

  setHandler(statusQuery, () => s.statusView());
  setHandler(reportQuery, () => s.report);
  setHandler(orchestrationQuery, () => s.orchestrationView());
  setHandler(agentTurnResultSignal, (reply) => orchestration?.onReply(reply));
  setHandler(agentProgressSignal, (p) => {
    const view = s.agents.get(p.agentId);
    if (view) Object.assign(view, { tokens: p.tokens, errors: p.errors, violations: p.violations });
    s.observeBreaker(p.breaker);
  });

  setHandler(spawnGammaSignal, (args?: SpawnGammaArgs) => {
    const reason = args?.reason ?? 'MANUAL';
    const at = nowIso();
    const record = (accepted: boolean, note: string): void => void s.gammaRequests.push({ reason, detail: args?.detail, at, accepted, note });
    if (!GAMMA_REASONS.includes(reason)) return record(false, `unknown reason "${String(reason)}" (expected ${GAMMA_REASONS.join(', ')})`);
    if (s.gammaThisOrchestration || s.gammaPending) return record(false, 'GAMMA was already requested for this orchestration; ignored');
    if (s.phase === 'COMPLETE') return record(false, 'the pipeline has finished; ignored');
    s.gammaPending = { reason, detail: args?.detail };
    record(true, s.phase === 'ORCHESTRATE' ? 'spawning GAMMA' : 'GAMMA will join when orchestration starts');
  });

  const main = new CancellationScope();
  setHandler(stopSignal, (args?: StopArgs) => {
    stopReason ??= args?.reason || 'stop requested';
    main.cancel();
  });

  setHandler(
    continueUpdate,
    (args?: ContinueArgs) => {
      if (args?.mode) s.settings.mode = args.mode;
      if (args?.model) s.settings.model = args.model;
      if (args?.timeoutSeconds) s.settings.timeoutSeconds = args.timeoutSeconds;
      continueRequested = true;
      return { status: 'ORCHESTRATING', mode: s.settings.mode, model: s.settings.model, timeoutSeconds: s.settings.timeoutSeconds };
    },
    {
      validator: (args?: ContinueArgs) => {
        if (s.status !== 'REPORT' || continueRequested) {
          throw new Error(
            `pipeline ${pipelineId} is ${s.status}${continueRequested && s.status === 'REPORT' ? ' and already continuing' : ''}, not waiting at REPORT: continue is only accepted there`,
          );
        }
        if (args?.mode !== undefined && !LLM_MODES.includes(args.mode)) throw new Error(`mode must be one of ${LLM_MODES.join(', ')}`);
        if (args?.timeoutSeconds !== undefined && !(Number.isInteger(args.timeoutSeconds) && args.timeoutSeconds > 0)) {
          throw new Error('timeoutSeconds must be a positive whole number');
        }
      },
    },
  );

  setHandler(
    recoverUpdate,
    (args: RecoverArgs): RecoverResult => {
      recoverAction = args.action;
      return { status: args.action === 'accept_partial' ? 'COMPLETED' : 'ORCHESTRATING', action: args.action };
    },
    {
      validator: (args: RecoverArgs) => {
        const why = recoverRejection(s.status, recoverAction !== null);
        if (why) throw new Error(`pipeline ${pipelineId}: ${why}`);
        if (!RECOVER_ACTIONS.includes(args?.action)) throw new Error(`action must be one of ${RECOVER_ACTIONS.join(', ')}`);
        const tooLong = rerunRejection(args.action, workflowInfo().historyLength, s.settings.maxRounds);
        if (tooLong) throw new Error(`pipeline ${pipelineId}: ${tooLong}`);
      },
    },
  );

  s.settings = resolveSettings(input, pipelineId, await pipelineDefaults());
  continueRequested ||= s.settings.autoContinue;
  s.recordPipeline();
  s.emit('pipeline_spawned', {
    objective: s.settings.objective,
    mode: s.settings.mode,
    model: s.settings.model,
    scenario: s.settings.scenario,
    auto_continue: s.settings.autoContinue,
  });
  s.enter('SPAWN', 'SPAWNING');
  s.flush();

  let status: PipelineStatusName = 'COMPLETED';
  let reason: string | undefined;
  let failure: unknown;
  try {
    await main.run(async () => {
      s.enter('RUN', 'RUNNING');
      s.flush();
      const revokedInRun: Role[] = [];
      let runLatency = 0;
      await Promise.all(
        (['alpha', 'beta'] as const).map(async (role) => {
          const r = await (await startAgent(role, 'run')).result();
          runLatency = Math.max(runLatency, r.simulatedLatencyMs);
          s.observeBreaker(r.breaker);
          s.recordCalls(r.calls);
          summaries.push({ role, summary: r.summary ?? '' });
          if (r.revoked) {
            revokedInRun.push(role);
            s.revokeAgent(r.revoked, 0);
          }
        }),
      );
      s.llmCriticalPathMs += runLatency; // the two agents run in parallel
      summaries.sort((a, b) => a.role.localeCompare(b.role));
      if (revokedInRun.length === 2) {
        status = 'FAILED';
        reason = `both agents were revoked in RUN (${s.orchestration.handoffs.map((h) => `${h.role.toUpperCase()}: ${h.reason}`).join('; ')})`;
        return;
      }

      s.report = buildRunReport(s.settings, summaries, nowIso());
      s.enter('REPORT', 'REPORT');
      s.flush();
      await condition(() => continueRequested);

      s.enter('ORCHESTRATE', 'ORCHESTRATING');
      let gammaAtOnce = false;
      for (let attempt = 1; ; attempt++) {
        s.gammaThisOrchestration = false;
        orchestration = new Orchestration(s, startAgent, attempt, attempt === 1 ? revokedInRun : []);
        const outcome = await orchestration.run({ gammaAtOnce });
        if (outcome === 'CONSENSUS') {
          s.orchestration.status = 'CONSENSUS';
          return;
        }
        if (outcome === 'TIMEOUT') {
          s.orchestration.status = 'TIMEOUT';
          status = 'TIMEOUT';
          reason = `no consensus within the ${s.settings.timeoutSeconds}s orchestration deadline`;
          notes.push(
            ...partialResult(
              s.orchestration.proposals,
              s.orchestration.votes,
              'the agents were stopped at the deadline; this report was written without the LLM',
            ).notes,
          );
          return;
        }
        if (outcome === 'ALL_REVOKED') {
          s.orchestration.status = 'FAILED';
          status = 'FAILED';
          reason = `every agent was revoked (${s.orchestration.handoffs.map((h) => `${h.role.toUpperCase()}: ${h.reason}`).join('; ')})`;
          return;
        }
        // No consensus within maxRounds: wait for a person to recover, for the recovery window. A rerun
        // starts agents with the same ids, so these must have ended first.
        await orchestration.finished;
        s.orchestration.status = 'NO_CONSENSUS';
        s.enter('ORCHESTRATE', 'ORCHESTRATION_FAILED');
        s.flush();
        recoverAction = null;
        const action = await waitForRecover(s.settings.recoveryWindowSeconds, () => recoverAction);
        if (!action) {
          status = 'ORCHESTRATION_FAILED';
          reason = `no consensus within ${s.settings.maxRounds} rounds, and no recover within the ${s.settings.recoveryWindowSeconds}s recovery window`;
          return;
        }
        s.emit('agent_message', { from: 'PIPELINE', to: 'ALL', content: `recover: ${action}` });
        const plan = recoveryPlan(action);
        if (plan.acceptPartial) {
          const best = bestProposal(s.orchestration.proposals, s.orchestration.votes);
          s.orchestration.status = 'PARTIAL';
          s.orchestration.partial = best ? { proposalId: best.id, title: best.title } : null;
          notes.push(best ? `accepted as partial: ${best.id} "${best.title}" (recover accept_partial)` : 'accept_partial: there was no proposal to accept');
          return;
        }
        gammaAtOnce = plan.gamma;
        s.enter('ORCHESTRATE', 'ORCHESTRATING');
      }
    });
  } catch (err) {
    failure = err;
    if (isCancellation(err)) {
      status = 'STOPPED';
      reason = stopReason ?? 'workflow cancelled';
      s.orchestration.status = s.phase === 'ORCHESTRATE' ? 'STOPPED' : s.orchestration.status;
    } else {
      status = s.phase === 'ORCHESTRATE' ? 'ORCHESTRATION_ERROR' : 'FAILED';
      reason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
      if (s.phase === 'ORCHESTRATE') s.orchestration.status = 'ERROR';
      log.error('pipeline failed', { pipelineId, status, reason });
    }
  }

  const result: PipelineResult = await CancellationScope.nonCancellable(async () => {
    const consensus = s.orchestration.consensus;
    const endedIn = s.phase;
    s.report = buildFinalReport({
      settings: s.settings,
      status,
      agents: summaries,
      consensus,
      rounds: s.orchestration.round,
      notes: [...(reason ? [`ended in ${endedIn}: ${reason}`] : []), ...revocationNotes(s.orchestration.handoffs, status), ...notes],
      partial: s.orchestration.partial,
      at: nowIso(),
    });
    const tokens = s.tokens;
    const partial = s.orchestration.partial;
    const result: PipelineResult = {
      pipelineId,
      status,
      consensus,
      rounds: s.orchestration.round,
      gamma: { spawned: s.gammaSpawned, reason: s.gammaReason },
      tokens,
      revoked: [...s.revoked],
      llmCriticalPathMs: s.llmCriticalPathMs,
      ...(partial ? { partial } : {}),
      ...(reason ? { reason } : {}),
    };
    if (endedIn === 'ORCHESTRATE') {
      s.emit('orchestration_complete', {
        status,
        results: {
          consensus,
          partial,
          rounds: result.rounds,
          proposals: s.orchestration.proposals.length,
          revoked: result.revoked,
          attempts: s.orchestration.attempt,
        },
      });
    }
    s.enter('COMPLETE', status);
    s.recordResult(result);
    s.emit('pipeline_finished', { status, reason: reason ?? null, rounds: result.rounds, tokens });
    // The last batch is written while the agents wind down; the pipeline ends when both are done.
    await Promise.all([s.drain(), orchestration?.finished]);
    await s.drain(); // what a late reply reported while the agents wound down (its calls' usage)
    return result;
  });

  // Cancellation and unexpected failures end the execution as such (the Web UI shows them), after
  // everything above was recorded; business outcomes complete with their status.
  // A CancelledFailure of our own: the caught error may be a child's or activity's failure wrapping
  // the cancellation, and rethrowing that would mark the execution Failed instead of Canceled.
  if (failure && isCancellation(failure) && stopReason === undefined) throw new CancelledFailure('pipeline cancelled');
  if (status === 'FAILED' || status === 'ORCHESTRATION_ERROR') {
    throw ApplicationFailure.create({ message: `pipeline ${status}: ${reason}`, type: status, nonRetryable: true });
  }
  return result;
}

/** Waits for a recover action for the recovery window, on a timer the Web UI shows; null when none came. */
async function waitForRecover(windowSeconds: number, action: () => RecoverAction | null): Promise<RecoverAction | null> {
  const timer = new CancellationScope();
  let expired = false;
  const done = timer
    .run(() => sleep(windowSeconds * 1000, { summary: `recovery window · ${windowSeconds}s` }))
    .then(
      () => void (expired = true),
      (err: unknown) => {
        if (!isCancellation(err)) throw err;
      },
    );
  await condition(() => expired || action() !== null);
  if (!expired) {
    timer.cancel();
    await done;
  }
  return action();
}

/** What the report says about revoked agents and who carried on. */
function revocationNotes(handoffs: readonly { role: Role; reason: string }[], status: PipelineStatusName): string[] {
  return handoffs.map((h) => {
    const partner = h.role === 'alpha' ? 'BETA' : h.role === 'beta' ? 'ALPHA' : 'ALPHA and BETA';
    return `${h.role.toUpperCase()} was revoked (${h.reason})${status === 'COMPLETED' && h.role !== 'gamma' ? `; ${partner} continued alone` : ''}`;
  });
}
