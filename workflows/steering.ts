import { CancellationScope, condition, workflowInfo } from '@temporalio/workflow';
import { HISTORY_LIMITS, SIGNAL_LIMITS } from '../common/limits';
import type { ContinueArgs, ContinueResult, RecoverArgs, RecoverResult, StopArgs, StopResult } from '../common/messages';
import { clip } from '../common/text';
import { LLM_MODES, RECOVER_ACTIONS, type RecoverAction } from '../common/types';
import { recoverRejection } from '../governance/recovery';
import { historyFull } from './carry';
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

  /** The stop signal, and the requestStop update; any payload (a reason that is not text is not kept). */
  stop(args?: unknown): StopResult {
    const reason = (args as StopArgs | undefined)?.reason;
    this.stopReason ??= typeof reason === 'string' && reason.trim() ? clip(reason, SIGNAL_LIMITS.detailChars) : 'stop requested';
    this.main.cancel();
    return { status: 'STOPPING' };
  }

  /** The requestStop update's validator: one stop, while the pipeline runs. */
  validateStop(): void {
    const { s } = this;
    if (s.phase === 'COMPLETE') throw new Error(`pipeline ${s.settings.pipelineId} has finished (${s.status})`);
    if (this.stopReason !== undefined) throw new Error(`pipeline ${s.settings.pipelineId} is already stopping (${this.stopReason})`);
  }

  validateContinue(args?: ContinueArgs): void {
    const { s } = this;
    if (s.status !== 'REPORT' || this.continueRequested) {
      throw new Error(
        `pipeline ${s.settings.pipelineId} is ${s.status}${this.continueRequested && s.status === 'REPORT' ? ' and already continuing' : ''}, not waiting at REPORT: continue is only accepted there`,
      );
    }
    if (args?.mode !== undefined && !LLM_MODES.includes(args.mode)) throw new Error(`mode must be one of ${LLM_MODES.join(', ')}`);
    if (args?.model !== undefined && !(typeof args.model === 'string' && args.model.length > 0 && args.model.length <= 200)) {
      throw new Error('model must be a model name (1 to 200 characters)');
    }
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

  /**
   * REPORT: waits for `continue` (at once when the pipeline continues on its own) until `until` (the
   * approval window's end), on a timer the Web UI shows. 'full' when the history has grown enough
   * meanwhile (signals) that the wait should go on in a new run.
   */
  async approval(until: number): Promise<'continue' | 'expired' | 'full'> {
    if (this.continueRequested) return 'continue';
    const windowSeconds = this.s.settings.approvalWindowSeconds;
    await condition(() => this.continueRequested || historyFull(workflowInfo()), Math.max(until - Date.now(), 1), {
      summary: `approval window · ${windowSeconds}s`,
    });
    return this.continueRequested ? 'continue' : historyFull(workflowInfo()) ? 'full' : 'expired';
  }

  validateRecover(args: RecoverArgs): void {
    const { pipelineId } = this.s.settings;
    const why = recoverRejection(this.s.status, this.recoverAction !== null);
    if (why) throw new Error(`pipeline ${pipelineId}: ${why}`);
    if (!RECOVER_ACTIONS.includes(args?.action)) throw new Error(`action must be one of ${RECOVER_ACTIONS.join(', ')}`);
    const runs = this.s.orchestration.attempt;
    if (args.action !== 'accept_partial' && runs >= HISTORY_LIMITS.orchestrations) {
      throw new Error(
        `pipeline ${pipelineId} has run ${runs} orchestrations, the most one pipeline may: accept_partial, or spawn a new pipeline with the same objective`,
      );
    }
    const size = JSON.stringify(this.s.orchestration).length;
    if (args.action !== 'accept_partial' && size > HISTORY_LIMITS.recordChars) {
      throw new Error(
        `pipeline ${pipelineId}'s orchestration record is ${size} characters, past the ${HISTORY_LIMITS.recordChars} a rerun may carry: accept_partial, or spawn a new pipeline with the same objective`,
      );
    }
  }

  recover(args: RecoverArgs): RecoverResult {
    this.recoverAction = args.action;
    return { status: args.action === 'accept_partial' ? 'COMPLETED' : 'ORCHESTRATING', action: args.action };
  }

  /**
   * Waits for a recover action until `until` (the recovery window's end), on a timer the Web UI
   * shows; null when none came, 'full' when the wait should go on in a new run (see approval).
   */
  async recovery(until: number): Promise<RecoverAction | null | 'full'> {
    this.recoverAction = null;
    const windowSeconds = this.s.settings.recoveryWindowSeconds;
    await condition(() => this.recoverAction !== null || historyFull(workflowInfo()), Math.max(until - Date.now(), 1), {
      summary: `recovery window · ${windowSeconds}s`,
    });
    if (this.recoverAction === null && historyFull(workflowInfo())) return 'full';
    return this.recoverAction;
  }
}
