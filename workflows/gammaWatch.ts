import { CancellationScope, condition, isCancellation, log, proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { GammaActivities } from '../activities';
import { stuckTrigger, type GammaTrigger } from '../governance/gammaTriggers';
import type { PipelineState } from './pipelineState';
import { nowIso } from './time';

// The GAMMA triggers wired to Temporal (the rules are in governance/gammaTriggers.ts). A trigger sends
// the public spawnGamma signal through a local activity, so automatic and manual starts look the same
// in the history; the signal handler decides (at most one GAMMA per orchestration) and the
// orchestration starts the child. STUCK is a durable timer set for when the run would have gone
// stuckSeconds without progress; when it fires after progress was made, it is set again for the rest
// (rather than cancelled and restarted at every proposal, vote and message: two history events and a
// server timer task each time, measured as the benchmark's largest avoidable share).

const { requestGamma } = proxyLocalActivities<GammaActivities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 5 } });

export class GammaWatch {
  private lastProgressAt = Date.now();
  private requested = false;
  stopped = false;

  constructor(private readonly s: PipelineState) {}

  /** A trigger fired, a request was made, or GAMMA is already there: no further automatic request. */
  get settled(): boolean {
    return this.requested || this.s.gammaThisOrchestration || this.s.gammaPending !== null;
  }

  markProgress(): void {
    this.lastProgressAt = Date.now();
  }

  /** Sends spawnGamma for a trigger that fired, once per orchestration; resolves when GAMMA was decided on. */
  async fire(trigger: GammaTrigger | { reason: 'MANUAL'; detail: string }): Promise<void> {
    if (this.settled) return;
    this.requested = true;
    log.info('GAMMA trigger fired', { pipelineId: this.s.settings.pipelineId, reason: trigger.reason, detail: trigger.detail });
    try {
      await requestGamma.executeWithOptions({ summary: `spawnGamma · ${trigger.reason}` }, [
        { workflowId: workflowInfo().workflowId, reason: trigger.reason, detail: trigger.detail },
      ]);
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The server could not be reached to send the signal: the run goes on without GAMMA rather than
      // failing; the request is listed as not accepted, and a person can still spawn GAMMA.
      log.warn('GAMMA request failed', { pipelineId: this.s.settings.pipelineId, reason: trigger.reason, error: String(err) });
      this.s.gammaRequests.push({
        reason: trigger.reason,
        detail: trigger.detail,
        at: nowIso(),
        accepted: false,
        note: `the spawnGamma signal could not be sent: ${String(err)}`,
      });
      return; // still `requested`: no automatic retry loop in this orchestration
    }
    // The signal is in the history once the activity returns; wait until its handler has run.
    await condition(() => this.s.gammaPending !== null || this.s.gammaThisOrchestration || this.stopped, '30s');
  }

  /** STUCK: no progress for stuckSeconds, on a timer the Web UI shows; runs until stopped or GAMMA. */
  async watchStuck(): Promise<void> {
    const { stuckSeconds } = this.s.settings.thresholds;
    while (!this.stopped && !this.settled) {
      const idleMs = Date.now() - this.lastProgressAt;
      const trigger = stuckTrigger(idleMs, this.s.settings.thresholds);
      if (trigger) {
        await this.fire(trigger);
        continue;
      }
      const timer = new CancellationScope();
      let fired = false;
      const done = timer
        .run(() => sleep(stuckSeconds * 1000 - idleMs, { summary: `STUCK watch · ${stuckSeconds}s without progress` }))
        .then(
          () => void (fired = true),
          (err: unknown) => {
            if (!isCancellation(err)) throw err;
          },
        );
      await condition(() => fired || this.stopped || this.settled);
      if (!fired) {
        timer.cancel();
        await done;
      }
    }
  }
}
