// The patch ids of workflow changes that would not replay the histories of runs started before them
// (README: Releases and recorded histories). Each is checked with `patched()` where the new code
// departs from the old: a run that started before the change replays and goes on the old way, a new
// one records the marker and takes the new way. An id is removed (with `deprecatePatch` first) only
// once no run of a release without it can still be open.

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
} as const;
