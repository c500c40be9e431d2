import type { Client } from '@temporalio/client';
import { defineQuery } from '@temporalio/workflow';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../../api/errors';
import { MAX_QUEUED_QUERIES, PipelineQueries } from '../../api/pipelineQueries';

// api/pipelineQueries.ts against a client whose queries answer only when the test says: one pipeline's
// queries one at a time, in order, other pipelines' beside them, a failure passed on without holding
// the next, and a bounded wait.

const status = defineQuery<string>('status');

function fakeClient() {
  const asked: { workflowId: string; settle: (v: string | Error) => void }[] = [];
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        query: () => new Promise<string>((resolve, reject) => asked.push({ workflowId, settle: (v) => (v instanceof Error ? reject(v) : resolve(v)) })),
      }),
    },
  } as unknown as Client;
  return { client, asked };
}
const tick = () => new Promise((r) => setImmediate(r));

test("one pipeline's queries one at a time, in order; another's beside them; a failure does not hold the next", async () => {
  const { client, asked } = fakeClient();
  const q = new PipelineQueries(client);
  const a1 = q.query('a', status);
  const a2 = q.query('a', status);
  const b1 = q.query('b', status);
  await tick();
  assert.deepEqual(
    asked.map((x) => x.workflowId),
    ['pipeline-a', 'pipeline-b'],
    "a's second waits for its first; b's goes at once",
  );
  asked[0]!.settle(new Error('Failed to query Workflow'));
  await assert.rejects(a1, /Failed to query Workflow/);
  await tick();
  assert.equal(asked.length, 3, "a's second is asked once the first has failed");
  asked[2]!.settle('REPORT');
  asked[1]!.settle('RUNNING');
  assert.equal(await a2, 'REPORT');
  assert.equal(await b1, 'RUNNING');
});

test('beyond MAX_QUEUED_QUERIES waiting for one pipeline, a read is refused with 503; room again once one is answered', async () => {
  const { client, asked } = fakeClient();
  const q = new PipelineQueries(client);
  const answered = new Set<number>();
  /** Answers the oldest query the client has been asked for `workflowId` and not answered yet. */
  const answerNext = async (workflowId: string, value: string) => {
    await tick();
    const k = asked.findIndex((x, i) => x.workflowId === workflowId && !answered.has(i));
    answered.add(k);
    asked[k]!.settle(value);
  };
  const waiting = Array.from({ length: MAX_QUEUED_QUERIES }, () => q.query('a', status));
  await assert.rejects(q.query('a', status), (err: unknown) => err instanceof HttpError && err.statusCode === 503);
  const other = q.query('b', status);
  await answerNext('pipeline-b', 'REPORT');
  assert.equal(await other, 'REPORT', 'another pipeline is not held');
  await answerNext('pipeline-a', 'RUN');
  assert.equal(await waiting[0], 'RUN');
  const next = q.query('a', status);
  for (let i = 1; i <= MAX_QUEUED_QUERIES; i++) await answerNext('pipeline-a', `answer ${i}`);
  assert.deepEqual(
    await Promise.all([...waiting.slice(1), next]),
    Array.from({ length: MAX_QUEUED_QUERIES }, (_, i) => `answer ${i + 1}`),
  );
});
