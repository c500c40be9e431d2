import { condition, isCancellation, log, proxyLocalActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { GammaActivities } from '../activities';
import { SIGNAL_LIMITS } from '../common/limits';
import type { GammaRequestResult, SpawnGammaArgs } from '../common/messages';
import { clip } from '../common/text';
import { GammaReasonKey } from '../common/searchAttributes';
import { GAMMA_REASONS, type GammaReason, type GammaRequest, type GammaView } from '../common/types';
import { stuckTrigger, type GammaTrigger } from '../governance/gammaTriggers';
import type { PipelineCarry } from './carry';
import type { PipelineState } from './pipelineState';
import { nowIso } from './time';

// GAMMA, the mediator, wired to Temporal (the rules of when are in governance/gammaTriggers.ts). One
// state machine, reset for each orchestration:
//
//   idle ──trigger──▶ requested ──spawnGamma──▶ pending(reason) ──orchestration runs──▶ joining ──child started──▶ present
//     └──────────────────spawnGamma (a person)──────▲
//
// Every request, a person's or an automatic trigger's, arrives through the public spawnGamma signal:
// a trigger sends it through a local activity (a workflow cannot signal itself), so every GAMMA start
// looks the same in the history. The signal's handler decides (at most one GAMMA per orchestration;
// a request made before ORCHESTRATE waits for it), and the orchestration's joiner starts the child.
// STUCK is a durable timer set for when the run would have gone stuckSeconds without progress; when
// it fires after progress was made, it is set again for the rest (rather than cancelled and restarted
// at every proposal, vote and message: two history events and a server timer task each time).

const { requestGamma } = proxyLocalActivities<GammaActivities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 5 } });

export type GammaState =
  | { name: 'idle' }
  | { name: 'requested' }
  | { name: 'pending'; reason: GammaReason; detail?: string }
  | { name: 'joining'; reason: GammaReason }
  | { name: 'present'; reason: GammaReason };

/** How long an orchestration waits for a request it sent, or for GAMMA to join, before going on without. */
const JOIN_WAIT = '30s';

export class Gamma {
  private state: GammaState = { name: 'idle' };
  /** Every spawnGamma request of the run, accepted or not, for the orchestration query. */
  readonly requests: GammaRequest[] = [];
  private spawned = false;
  private reason: GammaReason | null = null;
  /** Why GAMMA was called in, in detail, for its prompt (the spawnGamma signal's detail). */
  private detail: string | undefined;
  /** Which orchestration the watchers belong to; they end when it does. */
  private epoch = 0;
  private open = false;
  private lastProgressAt = 0;

  constructor(private readonly s: PipelineState) {}

  view(): GammaView {
    return { spawned: this.spawned, reason: this.reason };
  }

  /** What the next run needs when the pipeline continues as new (workflows/carry.ts); a request accepted meanwhile stands. */
  snapshot(): PipelineCarry['gamma'] {
    const pending = this.state.name === 'pending' ? { reason: this.state.reason, ...(this.state.detail ? { detail: this.state.detail } : {}) } : undefined;
    return {
      requests: this.requests,
      spawned: this.spawned,
      reason: this.reason,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(pending ? { pending } : {}),
    };
  }

  restore(c: PipelineCarry['gamma']): void {
    this.requests.push(...c.requests);
    this.spawned = c.spawned;
    this.reason = c.reason;
    this.detail = c.detail;
    if (c.pending) this.state = { name: 'pending', ...c.pending };
  }

  /** What GAMMA is told of why it was called in. */
  brief(): { gammaReason: GammaReason; gammaDetail?: string } {
    return { gammaReason: this.reason ?? 'MANUAL', ...(this.detail ? { gammaDetail: this.detail } : {}) };
  }

  /** A trigger fired, a request was made, or GAMMA is there: no further automatic request. */
  get settled(): boolean {
    return this.state.name !== 'idle';
  }

  /**
   * Why a request would be refused now, or undefined when it would be accepted. The requestGamma
   * update's validator (the API) refuses on this; the signal records it and ignores the request.
   * A request while an automatic trigger's own signal is on its way is a repeat for a person (the
   * update), not for the trigger's signal.
   */
  rejection(args: unknown, fromPerson: boolean): string | undefined {
    const reason = (args as SpawnGammaArgs | undefined)?.reason ?? 'MANUAL';
    if (!GAMMA_REASONS.includes(reason)) return `unknown reason "${clip(String(reason), 40)}" (expected ${GAMMA_REASONS.join(', ')})`;
    if (this.s.phase === 'COMPLETE') return 'the pipeline has finished';
    const taken = this.state.name === 'pending' || this.state.name === 'joining' || this.state.name === 'present';
    if (taken || (fromPerson && this.state.name === 'requested')) return 'GAMMA was already requested for this orchestration';
    return undefined;
  }

  /** The spawnGamma signal, and the requestGamma update once its validator let it through. Any payload: a bad one is recorded as refused. */
  request(args: unknown): GammaRequestResult | undefined {
    const a = (typeof args === 'object' && args !== null ? args : {}) as SpawnGammaArgs;
    const reason = a.reason ?? 'MANUAL';
    const detail = typeof a.detail === 'string' ? clip(a.detail, SIGNAL_LIMITS.detailChars) : undefined;
    const refused = this.rejection(a, false);
    const note = refused ? `${refused}; ignored` : this.s.phase === 'ORCHESTRATE' ? 'spawning GAMMA' : 'GAMMA will join when orchestration starts';
    this.record({ reason: GAMMA_REASONS.includes(reason) ? reason : 'MANUAL', ...(detail ? { detail } : {}), at: nowIso(), accepted: !refused, note });
    if (refused) return undefined;
    this.state = { name: 'pending', reason, ...(detail ? { detail } : {}) };
    return { accepted: true, note };
  }

  /** Capped: a flood of repeats keeps the latest few, so the query and the carried state stay small. */
  private record(r: GammaRequest): void {
    this.requests.push(r);
    if (this.requests.length > SIGNAL_LIMITS.gammaRequests) this.requests.splice(0, this.requests.length - SIGNAL_LIMITS.gammaRequests);
  }

  /** A new orchestration: GAMMA may join it once (a request accepted before it still stands). */
  begin(): void {
    if (this.state.name !== 'pending') this.state = { name: 'idle' };
    this.epoch++;
    this.open = true;
    this.lastProgressAt = Date.now();
  }

  end(): void {
    this.open = false;
  }

  markProgress(): void {
    this.lastProgressAt = Date.now();
  }

  /** Sends spawnGamma for a trigger that fired, once per orchestration; resolves when GAMMA was decided on. */
  async fire(trigger: GammaTrigger | { reason: 'MANUAL'; detail: string }): Promise<void> {
    if (this.settled) return;
    this.state = { name: 'requested' };
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
      this.record({
        reason: trigger.reason,
        detail: clip(trigger.detail, SIGNAL_LIMITS.detailChars),
        at: nowIso(),
        accepted: false,
        note: clip(`the spawnGamma signal could not be sent: ${String(err)}`, SIGNAL_LIMITS.detailChars),
      });
      return; // still `requested`: no automatic retry loop in this orchestration
    }
    // The signal is in the history once the activity returns; wait until its handler has run.
    const epoch = this.epoch;
    await condition(() => this.state.name !== 'requested' || this.ended(epoch), JOIN_WAIT);
  }

  /** Waits until GAMMA has joined, or none is coming (nothing accepted, or the request failed). */
  async arrival(): Promise<void> {
    await condition(() => this.state.name === 'present' || this.state.name === 'idle' || this.state.name === 'requested', JOIN_WAIT);
  }

  /** STUCK: no progress for stuckSeconds, on a timer the Web UI shows; runs until the orchestration ends or GAMMA is settled. */
  async watchStuck(): Promise<void> {
    const epoch = this.epoch;
    const { thresholds } = this.s.settings;
    while (!this.ended(epoch) && !this.settled) {
      const idleMs = Date.now() - this.lastProgressAt;
      const trigger = stuckTrigger(idleMs, thresholds);
      if (trigger) {
        await this.fire(trigger);
        continue;
      }
      await condition(() => this.ended(epoch) || this.settled, thresholds.stuckSeconds * 1000 - idleMs, {
        summary: `STUCK watch · ${thresholds.stuckSeconds}s without progress`,
      });
    }
  }

  /** Starts GAMMA once a request is accepted during this orchestration (or was, before it). */
  async join(attempt: number, start: (reason: GammaReason) => Promise<void>): Promise<void> {
    const epoch = this.epoch;
    await condition(() => this.state.name === 'pending' || this.ended(epoch));
    if (this.ended(epoch) || this.state.name !== 'pending') return;
    const { reason, detail } = this.state;
    this.state = { name: 'joining', reason };
    this.spawned = true;
    this.reason = reason;
    this.detail = detail;
    upsertSearchAttributes([{ key: GammaReasonKey, value: reason }]);
    this.s.showDetails();
    this.s.outbox.emit('gamma_spawned', { reason, detail: detail ?? null, attempt });
    this.markProgress();
    await start(reason);
    this.state = { name: 'present', reason };
    this.s.outbox.flush();
  }

  private ended(epoch: number): boolean {
    return !this.open || epoch !== this.epoch;
  }
}
