import type { WorkflowHandle } from '@temporalio/client';
import proto, { type temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, type Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { continueUpdate } from '../common/messages';
import { runCli } from '../devstack/temporalServer';
import { connectNative, createWorkers, WORKFLOWS_PATH } from '../workers/create';
import { promoteVersion, versionKey, type DeploymentVersion } from '../workers/versioning';
import { RELEASE_MARKER } from './fakes/releaseMarker';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// Worker Versioning (issue 16, item 1): two worker versions against one dev server. Version 1 is the
// harness (the stack's workflow bundle); version 2 is another build of the same workflows whose
// pipelines say `release: 'v2'` in their result (tests/fakes/releaseMarker.ts). A pipeline waiting
// at REPORT on version 1 finishes on version 1, with its agents and activities, after version 2 has
// become current; a new pipeline runs on version 2.

const deploymentName = uniqueId('versioning');
const v1: DeploymentVersion = { deploymentName, buildId: '0.1.0+aaaaaaa' };
const v2: DeploymentVersion = { deploymentName, buildId: '0.1.0+bbbbbbb' };
const ID1 = 'v1-worker';
const ID2 = 'v2-worker';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

let h: Harness;
let v2Workers: Worker[] = [];
let v2Running: Promise<unknown> | undefined;
let closeV2 = async () => undefined as void;

before(async () => {
  h = await startHarness('versioning', {
    identity: ID1,
    env: { WORKER_DEPLOYMENT_NAME: deploymentName, WORKER_BUILD_ID: v1.buildId, WORKER_PROMOTE: 'auto' },
  });
});
after(async () => {
  v2Workers.forEach((w) => w.shutdown());
  await v2Running;
  await closeV2();
  await h?.stop();
});

/** The workflow's history, with its agents' child workflows' histories. */
async function histories(handle: WorkflowHandle): Promise<{ workflowId: string; events: HistoryEvent[] }[]> {
  const own = (await handle.fetchHistory()).events ?? [];
  const children = own.map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution).filter((c) => c?.workflowId);
  assert.ok(children.length >= 2, `${handle.workflowId} started its agents (${children.length})`);
  const childHistories = await Promise.all(
    children.map(async (c) => ({
      workflowId: c!.workflowId!,
      events: (await h.client.workflow.getHandle(c!.workflowId!, c!.runId!).fetchHistory()).events ?? [],
    })),
  );
  return [{ workflowId: handle.workflowId, events: own }, ...childHistories];
}

/** Every workflow task and activity of these histories ran on `version`'s workers, and only there. */
function assertRanOn(all: { workflowId: string; events: HistoryEvent[] }[], version: DeploymentVersion, identity: string): void {
  for (const { workflowId, events } of all) {
    const tasks = events.map((e) => e.workflowTaskCompletedEventAttributes).filter(Boolean);
    assert.ok(tasks.length > 0, `${workflowId} has workflow tasks`);
    for (const t of tasks) {
      assert.equal(t!.identity, identity, `${workflowId}: a workflow task ran on ${t!.identity}`);
      assert.deepEqual(
        { deploymentName: t!.deploymentVersion?.deploymentName, buildId: t!.deploymentVersion?.buildId },
        version,
        `${workflowId}: its deployment version`,
      );
    }
    for (const a of events.map((e) => e.activityTaskStartedEventAttributes).filter(Boolean)) {
      assert.equal(a!.identity, identity, `${workflowId}: an activity ran on ${a!.identity}`);
    }
  }
}

async function visibleOn(version: DeploymentVersion): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of h.client.workflow.list({
    query: `TemporalWorkerDeploymentVersion = '${versionKey(version)}' AND WorkflowType = 'pipelineWorkflow'`,
  })) {
    ids.push(wf.workflowId);
  }
  return ids;
}

describe('worker versioning', () => {
  test('a pipeline waiting at REPORT on version 1 finishes on version 1 after version 2 becomes current; a new pipeline runs on version 2', async () => {
    // Version 1 is current: the harness's worker made it so (WORKER_PROMOTE=auto, no current version yet).
    const old = await h.start({ autoContinue: false });
    await h.waitForStatus(old, 'REPORT');

    // Version 2 starts beside it: same task queues, a different build of the workflows.
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: [fileURLToPath(new URL('./fakes/releaseMarker.ts', import.meta.url))],
      logger: new DefaultLogger('WARN'),
    });
    const connection = await connectNative(h.config.TEMPORAL_ADDRESS);
    closeV2 = () => connection.close();
    const codePath = join(mkdtempSync(join(tmpdir(), 'ag-v2-')), 'workflow-bundle.js');
    writeFileSync(codePath, code);
    v2Workers = await createWorkers({
      connection,
      config: h.config,
      taskQueue: h.taskQueue,
      redis: h.redis,
      ledger: h.ledger,
      identity: ID2,
      version: v2,
      workflowBundle: { codePath },
    });
    v2Running = Promise.all(v2Workers.map((w) => w.run()));

    // `auto` leaves a current version that has live workers alone: a rolling deploy is the operator's call.
    const auto = await promoteVersion({ connection, namespace: h.config.TEMPORAL_NAMESPACE, taskQueue: h.taskQueue, version: v2, mode: 'auto' });
    assert.equal(auto.action, 'left', JSON.stringify(auto));

    // The rollout step the README shows. The server refuses it until v2's workers have polled every
    // task queue v1 has (the queue, -llm, -ledger), which on a loaded machine can take a few seconds.
    const setCurrent = () =>
      runCli(
        process.env.TEMPORAL_CLI_PATH ?? 'temporal',
        [
          'worker',
          'deployment',
          'set-current-version',
          '--deployment-name',
          deploymentName,
          '--build-id',
          v2.buildId,
          '--yes',
          '--namespace',
          h.config.TEMPORAL_NAMESPACE,
        ],
        h.config.TEMPORAL_ADDRESS,
      );
    let set = await setCurrent();
    for (let i = 0; i < 60 && set.status !== 0 && /missing active task queues/.test(set.stderr); i++) {
      await new Promise((r) => setTimeout(r, 500));
      set = await setCurrent();
    }
    assert.equal(set.status, 0, set.stderr);

    const fresh = await h.start({ autoContinue: true });
    await old.executeUpdate(continueUpdate, { args: [{}] });
    const [oldResult, freshResult] = await Promise.all([old.result(), fresh.result()]);
    assert.equal(oldResult.status, 'COMPLETED');
    assert.equal(freshResult.status, 'COMPLETED');
    assert.equal((oldResult as { release?: string }).release, undefined, "version 1's code finished the old pipeline");
    assert.equal((freshResult as { release?: string }).release, RELEASE_MARKER, "version 2's code ran the new one");

    // Pinned: the pipelines, their agents and every activity (pipeline and ledger queues) stayed on their version.
    assertRanOn(await histories(old), v1, ID1);
    assertRanOn(await histories(fresh), v2, ID2);
    for (const [handle, version] of [
      [old, v1],
      [fresh, v2],
    ] as const) {
      const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
      assert.equal(info?.behavior, proto.temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED, `${handle.workflowId} is pinned`);
      assert.equal(info?.deploymentVersion?.buildId, version.buildId);
    }

    // What an operator watches while the old version drains: a visibility query per version.
    let onV1: string[] = [];
    let onV2: string[] = [];
    for (let i = 0; i < 50; i++) {
      [onV1, onV2] = await Promise.all([visibleOn(v1), visibleOn(v2)]);
      if (onV1.includes(old.workflowId) && onV2.includes(fresh.workflowId)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(onV1, [old.workflowId]);
    assert.deepEqual(onV2, [fresh.workflowId]);
  });
});
