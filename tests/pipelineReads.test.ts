import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApi, type Api } from './helpers/api';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// Reading pipelines as the dashboard does (status, orchestration and report at once, on every event)
// while they run and just after they finish, 20 pipelines side by side. Queries at once on a run that
// has just closed used to leave one waiting out the RPC timeout, answered 503 after 30 s: the
// dashboard's last read of a finished pipeline (api/pipelineQueries.ts).

let h: Harness;
let app: Api;
before(async () => {
  h = await startHarness('reads');
  app = await startApi(h);
});
after(async () => {
  await app?.close();
  await h?.stop();
});

const PIPELINES = 20;
/** How long each pipeline is still read after its status first said COMPLETED. */
const READ_AFTER_MS = 3000;

test('every read of a running or just-finished pipeline is answered, also three at once', { timeout: 300_000 }, async () => {
  const failed: string[] = [];
  let reads = 0;
  await Promise.all(
    Array.from({ length: PIPELINES }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 300));
      const id = uniqueId('reads');
      const spawned = await app.inject({
        method: 'POST',
        url: '/api/spawn',
        payload: { objective: 'Design a caching strategy', mode: 'local', pipeline_id: id, auto_continue: true, scenario: 'consensus' },
      });
      assert.equal(spawned.statusCode, 201, spawned.body);
      let completedAt = 0;
      while (!completedAt || Date.now() - completedAt < READ_AFTER_MS) {
        const answers = await Promise.all(
          [`/api/pipeline/${id}`, `/api/pipeline/${id}/orchestration`, `/api/checkpoint/report?pipeline_id=${id}`].map(async (url) => ({
            url,
            reply: await app.inject({ method: 'GET', url }),
          })),
        );
        reads += answers.length;
        for (const { url, reply } of answers) if (reply.statusCode !== 200) failed.push(`${url}: ${reply.statusCode} ${reply.body.slice(0, 200)}`);
        const status = answers[0]!.reply.statusCode === 200 ? (JSON.parse(answers[0]!.reply.body) as { status: string }).status : null;
        if (status === 'COMPLETED' && !completedAt) completedAt = Date.now();
        await new Promise((r) => setTimeout(r, 50));
      }
    }),
  );
  assert.ok(reads > PIPELINES * 6, `${reads} reads`);
  assert.deepEqual(failed, []);
});
