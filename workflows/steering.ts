import { CancellationScope, condition, workflowInfo } from '@temporalio/workflow';
import type { ContinueArgs, ContinueResult, RecoverArgs, RecoverResult, StopArgs } from '../common/messages';
import { LLM_MODES, RECOVER_ACTIONS, type RecoverAction } from '../common/types';
import { recoverRejection, rerunRejection } from '../governance/recovery';
import type { PipelineState } from './pipelineState';

// What a person can do to a running pipeline, and what the pipeline waits on for it: `continue` at
// REPORT, `recover` after an orchestration without consensus, `stop` at any time (the main scope is
// cancelled; the pipeline still writes its report, result and events).

export class Steering {
  /** Everything but the final record keeping runs in this scope, so `stop` can cancel it. */
  readonly main = new CancellationScope();
  continueRequested = false;
  stopReason: string | undefined;
  private recoverAction: RecoverAction | null = null;

  constructor(private readonly s: PipelineState) {}

  stop(args?: StopArgs): void {
    this.stopReason ??= args?.reason || 'stop requested';
    this.main.cancel();
  }

  validateContinue(args?: ContinueArgs): void {
    const { s } = this;
    if (s.status !== 'REPORT' || this.continueRequested) {
      throw new Error(
        `pipeline ${s.settings.pipelineId} is ${s.status}${this.continueRequested && s.status === 'REPORT' ? ' and already continuing' : ''}, not waiting at REPORT: continue is only accepted there`,
      );
    }
    if (args?.mode !== undefined && !LLM_MODES.includes(args.mode)) throw new Error(`mode must be one of ${LLM_MODES.join(', ')}`);
    if (args?.timeoutSeconds !== undefined && !(Number.isInteger(args.timeoutSeconds) && args.timeoutSeconds > 0)) {
      throw new Error('timeoutSeconds must be a positive whole number');
    }
  }

  continue(args?: ContinueArgs): ContinueResult {
    const { settings } = this.s;
    if (args?.mode) settings.mode = args.mode;
    if (args?.model) settings.model = args.model;
    if (args?.timeoutSeconds) settings.timeoutSeconds = args.timeoutSeconds;
    this.continueRequested = true;
    return { status: 'ORCHESTRATING', mode: settings.mode, model: settings.model, timeoutSeconds: settings.timeoutSeconds };
  }

  /** REPORT: waits for `continue` (at once when the pipeline continues on its own). */
  async approval(): Promise<void> {
    await condition(() => this.continueRequested);
  }

  validateRecover(args: RecoverArgs): void {
    const { pipelineId, maxRounds } = this.s.settings;
    const why = recoverRejection(this.s.status, this.recoverAction !== null);
    if (why) throw new Error(`pipeline ${pipelineId}: ${why}`);
    if (!RECOVER_ACTIONS.includes(args?.action)) throw new Error(`action must be one of ${RECOVER_ACTIONS.join(', ')}`);
    const tooLong = rerunRejection(args.action, workflowInfo().historyLength, maxRounds);
    if (tooLong) throw new Error(`pipeline ${pipelineId}: ${tooLong}`);
  }

  recover(args: RecoverArgs): RecoverResult {
    this.recoverAction = args.action;
    return { status: args.action === 'accept_partial' ? 'COMPLETED' : 'ORCHESTRATING', action: args.action };
  }

  /** Waits for a recover action for the recovery window, on a timer the Web UI shows; null when none came. */
  async recovery(): Promise<RecoverAction | null> {
    this.recoverAction = null;
    const windowSeconds = this.s.settings.recoveryWindowSeconds;
    await condition(() => this.recoverAction !== null, windowSeconds * 1000, { summary: `recovery window · ${windowSeconds}s` });
    return this.recoverAction;
  }
}
