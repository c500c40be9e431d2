// The patch ids of workflow changes that would not replay the histories of runs started before them
// (README: Releases and recorded histories). Each is checked with `patched()` where the new code
// departs from the old: what a run recorded before the change replays the old way; at its next such
// point on the new code a run, new or already running, records the marker and takes the new way. An
// id is removed (with `deprecatePatch` first) only once no run of a release without it can still be
// open.

export const PATCHES = {
  /**
   * The end of a pipeline, shorter (issue #17's profile): the round that reaches consensus is not
   * flushed on its own, so its events, the result and the last events leave in one outbox batch (one
   * ledger activity and one workflow task fewer on the critical path). The orchestration agents are
   * started with parent close policy REQUEST_CANCEL, so none outlives a pipeline that is terminated.
   */
  quickEnd: 'quick-end',
  /**
   * The proposer's first turn goes in its start input instead of a signal once it has started: its
   * call begins in the agent's first workflow task, without the pipeline task that waited for the
   * child to start and the signal (~60 ms of the critical path).
   */
  firstTurnInInput: 'first-turn-in-input',
  /**
   * The pipeline ends without telling its idle orchestration agents to finish and waiting for them
   * (~80 ms of P1's critical path as measured, and a signal, a child completion and a workflow task
   * per agent): their parent close policy (REQUEST_CANCEL, from `quickEnd`) asks them to end once the
   * pipeline has, and an agent asked to end while it waits for a turn completes normally. A busy agent
   * (a stalled call) is still cancelled and waited for, a revoked one (already returning) waited for,
   * and a rerun still waits for every agent (it takes their ids). Checked on both sides: by the pipeline when the orchestration closes, by the
   * agent when it is cancelled.
   */
  agentsEndWithPipeline: 'agents-end-with-pipeline',
  /**
   * The proposer hands the review of its proposal to the reviewer itself (workflows/directReview.ts):
   * ALPHA's propose turn carries an offer, and ALPHA signals BETA the review turn before it answers the
   * pipeline; a workflow task of the pipeline and a signal fewer between the two calls of a round.
   * Checked by the pipeline when it builds a propose turn; the agent follows the offer it is given.
   */
  directReview: 'direct-review',
} as const;
