import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WORKFLOWS_PATH } from '../../workers/create';
import { loadHistories } from '../helpers/histories';
import { routeSdkLogs } from '../helpers/logs';

// Every recorded scenario's history replays against the current workflow code: a change that breaks
// determinism fails here.

test('recorded histories replay without nondeterminism', async () => {
  routeSdkLogs();
  const histories = loadHistories();
  assert.ok(histories.length >= 5, `histories are recorded under tests/histories (found ${histories.length})`);
  const bundle = process.env.WORKFLOW_BUNDLE;
  const results = Worker.runReplayHistories(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS_PATH }, histories);
  const failures: string[] = [];
  let count = 0;
  for await (const r of results) {
    count++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  assert.equal(count, histories.length);
  assert.deepEqual(failures, []);
});
