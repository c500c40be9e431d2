import type { Client } from '@temporalio/client';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pipelineWorkflowId } from '../common/ids';
import { orchestrationQuery, reportQuery, statusQuery } from '../common/messages';
import type { PipelineInput } from '../common/types';
import { eventsSince } from '../lib/events';
import { Ledger } from '../lib/ledger';
import { startTs, type Managed } from '../devstack/processes';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import type { pipelineWorkflow } from '../workflows/pipeline';
import { uniqueId } from './helpers/harness';
import { testLogStream } from './helpers/logs';

// A worker process killed with SIGKILL in the middle of a pipeline, then started again: the pipeline
// finishes with the outcome it would have had, and nothing is written twice. The worker is the real
// `npm run worker` entry point, in a process of its own, so the kill is a real one.

let client: Client;
before(async () => {
  client = await connectClient(process.env.TEMPORAL_ADDRESS ?? 'localhost:7233', 'default');
});
after(async () => {
  await client?.connection.close();
});

function startWorker(taskQueue: string, ledgerPath: string): Managed {
  return startTs('worker', 'workers/main.ts', { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, LEDGER_PATH: ledgerPath }, testLogStream());
}

function kill9(worker: Managed): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.child.once('exit', () => resolve()));
  worker.child.kill('SIGKILL');
  return exited;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startPipeline(taskQueue: string, input: Partial<PipelineInput>) {
  const pipelineId = uniqueId('chaos');
  const handle = await client.workflow.start<typeof pipelineWorkflow>('pipelineWorkflow', {
    taskQueue,
    workflowId: pipelineWorkflowId(pipelineId),
    args: [{ objective: 'Design a caching strategy', ...input } as PipelineInput],
  });
  return { pipelineId, handle };
}

describe('a worker killed with SIGKILL', () => {
  test('mid-orchestration: after a restart the pipeline ends as it would have, with no duplicate row or event', async () => {
    const taskQueue = uniqueId('chaos-kill');
    const ledgerPath = join(mkdtempSync(join(tmpdir(), 'ag-chaos-')), 'ledger.db');
    let worker = startWorker(taskQueue, ledgerPath);
    const { pipelineId, handle } = await startPipeline(taskQueue, { latencyMs: 700 });
    try {
      // Killed while BETA evaluates the first proposal.
      await until('the first proposal is posted', async () => (await handle.query(orchestrationQuery)).proposals.length >= 1);
      await kill9(worker);
      worker = startWorker(taskQueue, ledgerPath);
      const result = await handle.result();

      // The scenario's outcome without a crash: BETA asks for a refinement, then P2 is accepted by both.
      assert.equal(result.status, 'COMPLETED');
      assert.equal(result.consensus?.proposalId, 'P2');
      assert.deepEqual(
        result.consensus?.votes.map((v) => [v.agent, v.approve]),
        [
          ['alpha', true],
          ['beta', true],
        ],
      );
      assert.deepEqual(result.revoked, [], "a lost worker is not the agents' fault: nobody was revoked");
      const orch = await handle.query(orchestrationQuery);
      assert.deepEqual(
        orch.proposals.map((p) => p.id),
        ['P1', 'P2'],
      );
      assert.equal(orch.votes.length, 4);

      const ledger = new Ledger(ledgerPath);
      try {
        assert.deepEqual(
          ledger.results(pipelineId).map((r) => r.status),
          ['COMPLETED'],
          'exactly one result row',
        );
        const audit = ledger.audit(pipelineId, 10_000);
        assert.equal(new Set(audit.map((a) => a.seq)).size, audit.length, 'no audit event twice');
        const keys = ledger.checkpoints(pipelineId).map((c) => c.key);
        assert.equal(new Set(keys).size, keys.length, 'no checkpoint twice');
      } finally {
        ledger.close();
      }
      const redis = await connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      try {
        const events = await eventsSince(redis, pipelineId, 0);
        assert.deepEqual(
          events.map((e) => e.seq),
          events.map((_, i) => i + 1),
          'every event once, in order',
        );
        assert.equal(events.at(-1)?.type, 'pipeline_finished');
      } finally {
        redis.disconnect();
      }
    } finally {
      await worker.stop();
    }
  });

  test('down when the deadline passes: the pipeline ends TIMEOUT once a worker is back', async () => {
    const taskQueue = uniqueId('chaos-deadline');
    const ledgerPath = join(mkdtempSync(join(tmpdir(), 'ag-chaos-')), 'ledger.db');
    let worker = startWorker(taskQueue, ledgerPath);
    const { pipelineId, handle } = await startPipeline(taskQueue, { latencyMs: 1500, timeoutSeconds: 3 });
    try {
      await until('orchestration has started', async () => (await handle.query(statusQuery)).status === 'ORCHESTRATING');
      await kill9(worker);
      await new Promise((r) => setTimeout(r, 5000)); // the 3 s deadline passes with no worker at all
      worker = startWorker(taskQueue, ledgerPath);
      const result = await handle.result();
      assert.equal(result.status, 'TIMEOUT');
      const report = await handle.query(reportQuery);
      assert.equal(report?.kind, 'partial');
      const ledger = new Ledger(ledgerPath);
      try {
        assert.deepEqual(
          ledger.results(pipelineId).map((r) => r.status),
          ['TIMEOUT'],
        );
      } finally {
        ledger.close();
      }
    } finally {
      await worker.stop();
    }
  });
});
