import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workflowOptions } from '../../workers/create';
import { CURRENT_RELEASE, declaredBreaks, loadHistories, releases } from '../../devstack/histories';
import { routeSdkLogs } from '../helpers/logs';

// Every release's recorded histories (tests/histories/<version>/) replay against the current workflow
// code. A failure in the current release's is a determinism bug. A failure in a past release's means
// its running pipelines cannot move to this code: they must drain on their own version's workers
// (Pinned, the default), which the current release declares in its BREAKS file; without that
// declaration the test fails, so such a change is never made by accident (README: Releases and
// recorded histories).

// Twice: as a worker without tracing runs them (the prebuilt bundle when there is one), and with the
// tracing interceptors (workflows/tracing.ts), which must change nothing a replay checks.
for (const traced of [false, true]) {
  test(`every release's recorded histories replay without nondeterminism${traced ? ', with the tracing interceptors' : ''}`, async () => {
    routeSdkLogs();
    const histories = loadHistories();
    assert.ok(releases().includes(CURRENT_RELEASE), `tests/histories/${CURRENT_RELEASE} holds this release's histories (releases: ${releases().join(', ')})`);
    assert.ok(histories.length >= 5, `histories are recorded under tests/histories/<release> (found ${histories.length})`);
    const breaks = declaredBreaks();
    const bundle = process.env.WORKFLOW_BUNDLE;
    const options = workflowOptions(bundle ? { codePath: bundle } : undefined, traced);
    assert.equal(options.interceptors.workflowModules?.length ?? 0, traced ? 1 : 0);
    const results = Worker.runReplayHistories(options, histories);
    const failures: string[] = [];
    const skipped = new Map<string, number>();
    let count = 0;
    for await (const r of results) {
      const { release, file } = histories[count++]!;
      if (!r.error) continue;
      if (release !== CURRENT_RELEASE && breaks.has(release)) skipped.set(release, (skipped.get(release) ?? 0) + 1);
      else failures.push(`${release}/${file} (${r.workflowId}): ${r.error.message}`);
    }
    for (const [release, n] of skipped) console.log(`# ${n} histories of ${release} do not replay, as ${CURRENT_RELEASE}'s BREAKS declares`);
    assert.equal(count, histories.length);
    assert.deepEqual(failures, []);
  });
}
