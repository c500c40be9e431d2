import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { agentWorkflowId, llmTaskQueue, pipelineIdFromWorkflowId } from '../common/ids';
import { renderReportMarkdown } from '../agents/report';
import { orchestrationQuery, reportQuery, spawnGammaSignal, statusQuery } from '../common/messages';
import type { AgentPhase, AgentView, PipelineEvent, Role, StatusView } from '../common/types';
import { boardKeys } from '../lib/blackboard';
import { breakerName, CircuitBreaker } from '../lib/breaker';
import { startTs } from '../devstack/processes';
import { startHarness, startLlmWorker, type ExtraWorker, type Harness, type HarnessOptions } from './helpers/harness';
import { startFakeLlm, type FakeLlm, type RecordedRequest } from '../devstack/fakeLlm';
import { openrouterEnv as openrouterEnvFor, resetBreaker, withFakeProvider } from './helpers/fakeProvider';

// Issue 5's governance of real LLM calls, end to end: the real `openai` client in the worker's
// activities, over HTTP to the fake OpenAI-compatible server (devstack/fakeLlm.ts), on the real dev
// server. Each test starts its own fake (so its own circuit breaker, which is keyed by the endpoint's
// host:port) and its own worker(s) on a task queue of their own.

/** Not key-shaped on purpose: only the exact-secret scrubbing can hide it, not the key-like pattern. */
const KEY = 'LLMGOV-fake-credential-7f3a9c2e1b5d';
const KEY_TAIL = '7f3a9c2e1b5d';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const bodyText = (r: RecordedRequest): string => JSON.stringify(r.body);
/** The chat completions whose request contains every one of `parts`, in arrival order. */
const callsWith = (fake: FakeLlm, ...parts: string[]): RecordedRequest[] => fake.completions().filter((r) => parts.every((p) => bodyText(r).includes(p)));
const usageOf = (r: RecordedRequest): number => (r.response as { usage?: { total_tokens?: number } } | undefined)?.usage?.total_tokens ?? 0;
const modelOf = (r: RecordedRequest): string => (r.body as { model: string }).model;
const of = (events: PipelineEvent[], type: string) => events.filter((e) => e.type === type);

function agent(status: StatusView, phase: AgentPhase, role: Role): AgentView {
  const a = status.agents.find((x) => x.phase === phase && x.role === role);
  assert.ok(a, `the status query lists ${role} (${phase})`);
  return a;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const openrouterEnv = (fake: FakeLlm, env: Record<string, string> = {}) => openrouterEnvFor(KEY, fake, env);
const withFake = (name: string, env: Record<string, string>, fn: (fake: FakeLlm, h: Harness) => Promise<void>, opts: Omit<HarnessOptions, 'env'> = {}) =>
  withFakeProvider(KEY, name, env, fn, opts);

const childHistory = (h: Harness, handle: WorkflowHandle, phase: AgentPhase, role: Role): Promise<History> =>
  h.client.workflow.getHandle(agentWorkflowId(pipelineIdFromWorkflowId(handle.workflowId), phase, role)).fetchHistory();

/** Each callAgent activity of a history: its scheduling, the start of its last attempt, and how it ended. */
function agentCalls(history: History) {
  const events = history.events ?? [];
  const byScheduled = (id: unknown, pick: (e: HistoryEvent) => { scheduledEventId?: unknown } | null | undefined) =>
    events.find((e) => String(pick(e)?.scheduledEventId ?? '') === String(id));
  return events
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'callAgent')
    .map((e) => {
      const started = byScheduled(e.eventId, (x) => x.activityTaskStartedEventAttributes)?.activityTaskStartedEventAttributes;
      const failed = byScheduled(e.eventId, (x) => x.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes;
      const completed = byScheduled(e.eventId, (x) => x.activityTaskCompletedEventAttributes);
      return {
        taskQueue: e.activityTaskScheduledEventAttributes?.taskQueue?.name ?? '',
        identity: started?.identity ?? '',
        attempt: started?.attempt ?? 0,
        lastFailureType: started?.lastFailure?.applicationFailureInfo?.type ?? null,
        failureType: failed?.failure?.cause?.applicationFailureInfo?.type ?? failed?.failure?.applicationFailureInfo?.type ?? null,
        completed: Boolean(completed),
      };
    });
}

/**
 * How many more calls than a rate limit of `rate` per second allows arrived in the worst stretch of
 * the run (≤ 0: none). The server's limiter is a token bucket per task-queue partition: it lets a burst
 * through at once (up to one per partition, 4 on the dev server, or 2 with a single partition) and
 * `rate` per second after that; arrival times at the fake jitter by some tens of ms.
 */
function overLimit(times: number[], rate: number, burst = 4, jitterMs = 300): number {
  const t = [...times].sort((a, b) => a - b);
  let worst = -Infinity;
  for (let i = 0; i < t.length; i++) {
    for (let j = i; j < t.length; j++) worst = Math.max(worst, j - i + 1 - (burst + (rate * (t[j]! - t[i]! + jitterMs)) / 1000));
  }
  return Math.ceil(worst);
}

const relative = (times: number[]): string => times.map((x) => x - Math.min(...times)).join(', ');

describe('LLM calls under governance (openai client → fake server)', () => {
  test("a 429 with Retry-After: the call is tried again no sooner than asked, counted in the agent's error budget, and the pipeline completes", async () => {
    await withFake('llm-retry-after', {}, async (fake, h) => {
      fake.addFault({ kind: 'status', status: 429, retryAfter: 3, match: 'Task: research' });
      const handle = await h.start({ mode: 'openrouter', budgets: { errors: { total: 8, same: 2, violations: 1 } } });
      const result = await handle.result();
      assert.equal(result.status, 'COMPLETED');
      assert.deepEqual(result.revoked, []);

      const research = callsWith(fake, 'Task: research');
      assert.deepEqual(
        research.map((r) => r.status),
        [429, 200],
        'one 429, then the same call again, answered',
      );
      const gap = research[1]!.at - research[0]!.at;
      // Without Retry-After the first backoff would be 500 ms.
      assert.ok(gap >= 2950, `the retry waited for Retry-After (3 s): it came ${gap} ms after the 429`);
      assert.ok(gap < 15_000, `and not much longer (${gap} ms)`);
      const timers = ((await childHistory(h, handle, 'run', 'alpha')).events ?? [])
        .map((e) => e.timerStartedEventAttributes?.startToFireTimeout)
        .filter((d) => d)
        .map((d) => Number(String(d!.seconds ?? 0)) * 1000 + Math.round((d!.nanos ?? 0) / 1e6));
      assert.deepEqual(timers, [3000], "ALPHA's backoff timer is the provider's Retry-After");

      const status = await handle.query(statusQuery);
      const alpha = agent(status, 'run', 'alpha');
      assert.equal(alpha.status, 'COMPLETED', 'one rate-limited try does not revoke');
      assert.equal(alpha.errors, 1, "the 429 counts in ALPHA's error budget");
      assert.equal(alpha.violations, 0);
      assert.deepEqual(alpha.budget, { total: 8, same: 2, violations: 1, tokens: alpha.budget.tokens });
      for (const a of status.agents.filter((x) => x !== alpha)) assert.equal(a.errors, 0, `${a.id} had no failure`);
      await h.recordHistory('llm-retry-after', handle);
    });
  });

  test('the circuit breaker is shared by two LLM workers: after BREAKER_FAILURES failures nothing reaches the provider for the cooldown, then one probe closes it', async () => {
    const FAILURES = 3;
    const COOLDOWN_MS = 4_000;
    await withFake(
      'llm-breaker',
      { BREAKER_FAILURES: String(FAILURES), BREAKER_COOLDOWN_SECONDS: String(COOLDOWN_MS / 1000) },
      async (fake, h) => {
        // Two provider-call workers in place of the harness's own, each with its own CircuitBreaker
        // object over the same Redis. A serves the calls until the breaker opens and then leaves; B
        // serves every call after that, so what B does while the breaker is open it learned from Redis.
        const workerA = await startLlmWorker(h, 'llm-worker-A');
        let workerB: ExtraWorker | undefined;
        const observer = new CircuitBreaker(h.redis, { name: breakerName(fake.url), failures: FAILURES, cooldownMs: COOLDOWN_MS });
        try {
          // ALPHA's first proposal meets a run of 500s; nobody else calls the provider meanwhile (BETA waits
          // for the proposal), so the failures are consecutive. Budgets high enough that nobody is revoked.
          fake.addFault({ kind: 'status', status: 500, match: 'Task: propose', times: 100 });
          const handle = await h.start({ mode: 'openrouter', budgets: { errors: { total: 20, same: 20, violations: 1 } } });
          let opened = await observer.state();
          await until('the breaker opens', async () => (opened = await observer.state()).state === 'open', 60_000, 20);
          // The pipeline's status shows it while ALPHA waits (the failure that tripped it reported it).
          await until('the status query shows the breaker open', async () => (await handle.query(statusQuery)).breaker?.state === 'open', 10_000, 50);
          const shown = (await handle.query(statusQuery)).breaker!;
          assert.ok(
            shown.failures >= FAILURES && shown.openedUntil && Date.parse(shown.openedUntil) > Date.now() - 1000,
            `the status names the failures and when it lets a probe through (${JSON.stringify(shown)})`,
          );
          fake.clearFaults();
          await workerA.stop();
          workerB = await startLlmWorker(h, 'llm-worker-B');
          const result = await handle.result();
          assert.equal(result.status, 'COMPLETED', 'the pipeline completes once the provider answers again');
          assert.deepEqual(result.revoked, []);

          // The provider's side: three 500s, then silence for the cooldown, then one probe that succeeds.
          const propose = callsWith(fake, 'Task: propose');
          assert.deepEqual(
            propose.slice(0, FAILURES + 1).map((r) => r.status),
            [500, 500, 500, 200],
          );
          const opener = propose[FAILURES - 1]!;
          const after = fake.completions().filter((r) => r.seq > opener.seq);
          assert.equal(after[0], propose[FAILURES], 'the first request after the breaker opened is the probe');
          const silence = after[0]!.at - opener.at;
          assert.ok(
            silence >= COOLDOWN_MS - 100,
            `no request reached the provider for the cooldown (${silence} ms after the third failure; cooldown ${COOLDOWN_MS} ms)`,
          );
          assert.ok(opened.state === 'open' && opened.failures >= FAILURES, `the breaker was open after ${FAILURES} failures (${JSON.stringify(opened)})`);
          assert.deepEqual(await observer.state(), { state: 'closed', failures: 0, openedUntil: null }, "the probe's success closed it");

          // Temporal's side: ALPHA's tries in the orchestration, with the worker that ran each.
          const alphaCalls = agentCalls(await childHistory(h, handle, 'orch', 'alpha'));
          assert.deepEqual(
            alphaCalls.map((c) => [c.identity, c.failureType ?? (c.completed ? 'ok' : '?')]),
            [
              ['llm-worker-A', 'LlmServer'],
              ['llm-worker-A', 'LlmServer'],
              ['llm-worker-A', 'LlmServer'],
              ['llm-worker-B', 'ok'],
            ],
            'A ran the three failed tries, B the one after',
          );
          const probe = alphaCalls[FAILURES]!;
          assert.equal(
            probe.lastFailureType,
            'LlmCircuitOpen',
            "B's first attempt failed fast on the open breaker (A's failures, through Redis), without calling the provider",
          );
          assert.ok(probe.attempt >= 2, "Temporal retried it after the cooldown: not the agent's fault");
          assert.ok(
            alphaCalls.every((c) => c.taskQueue === llmTaskQueue(h.taskQueue)),
            'provider calls run on the LLM queue',
          );
          const betaCalls = agentCalls(await childHistory(h, handle, 'orch', 'beta'));
          assert.deepEqual(
            betaCalls.map((c) => c.identity),
            ['llm-worker-B'],
          );
          const runCalls = [...agentCalls(await childHistory(h, handle, 'run', 'alpha')), ...agentCalls(await childHistory(h, handle, 'run', 'beta'))];
          assert.deepEqual(
            runCalls.map((c) => c.identity),
            ['llm-worker-A', 'llm-worker-A'],
          );

          const status = await handle.query(statusQuery);
          assert.equal(status.breaker?.state, 'closed', 'the status query shows the breaker closed again after the probe');
          const alpha = agent(status, 'orch', 'alpha');
          assert.equal(alpha.status, 'COMPLETED');
          assert.equal(alpha.errors, FAILURES, "the three 500s count in ALPHA's budget; the fast failures on the open breaker do not");
          await h.recordHistory('llm-breaker', handle);
        } finally {
          await workerB?.stop();
          await workerA.stop();
        }
      },
      { roles: ['pipeline', 'ledger'] },
    );
  });

  test('the token budget stops an agent within one call; its handoff is recorded and its partner continues alone', async () => {
    await withFake('llm-tokens', {}, async (fake, h) => {
      // ALPHA's proposals cost about 1,400 tokens a call (a model that reasons at length before a short
      // answer), BETA's reviews a few hundred and go against ALPHA's proposals; a budget of 3,500 tokens
      // lets ALPHA make two proposals (about 2,800) and stops it after the third (about 4,250), while
      // BETA stays within it, its own proposal included.
      const BUDGET = 3_500;
      const design = { approach: 'Shard by tenant', components: 'cache, store', tradeoffs: 'memory', risks: 'hot tenants', rollout: 'by tenant' };
      fake.addFault({
        kind: 'content',
        content: JSON.stringify({
          proposal: { title: 'Tenant-sharded write-through cache', summary: 'Shard, write through, expire by version.', design, complexity: 0.4 },
        }),
        completionTokens: 1_200,
        match: 'Task: propose',
        times: 3, // ALPHA's three proposals; BETA's own, after ALPHA is stopped, gets the fake's short default
      });
      for (const id of ['P1', 'P2', 'P3']) {
        fake.addFault({
          kind: 'content',
          content: JSON.stringify({
            vote: { proposalId: id, approve: false, reason: 'not yet' },
            messages: [{ to: 'alpha', content: 'Say how invalidation works.' }],
          }),
          match: 'Task: evaluate',
        });
      }
      const handle = await h.start({ mode: 'openrouter', budgets: { tokens: BUDGET }, thresholds: { conflictCount: 50 } });
      const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
      const result = await handle.result();
      assert.equal(result.status, 'COMPLETED', 'the partner carried the pipeline to the end');
      assert.deepEqual(result.revoked, ['alpha']);

      const status = await handle.query(statusQuery);
      const alpha = agent(status, 'orch', 'alpha');
      assert.equal(alpha.status, 'REVOKED');
      assert.match(alpha.revokedReason ?? '', /token budget/);
      const alphaCalls = callsWith(fake, 'You are ALPHA', 'Task: propose');
      assert.ok(alphaCalls.length >= 2, `ALPHA made several calls before it was stopped (${alphaCalls.length})`);
      const used = alphaCalls.map(usageOf);
      const total = used.reduce((a, b) => a + b, 0);
      assert.equal(alpha.tokens, total, 'the tokens counted are the usage the provider reported');
      assert.ok(total - used.at(-1)! < BUDGET, 'it was within budget before its last call');
      assert.ok(
        alpha.tokens >= BUDGET && alpha.tokens <= BUDGET + used.at(-1)!,
        `stopped within one call of the budget (${alpha.tokens} tokens, budget ${BUDGET}, last call ${used.at(-1)})`,
      );

      const beta = agent(status, 'orch', 'beta');
      assert.equal(beta.status, 'COMPLETED');
      assert.ok(beta.tokens < BUDGET);
      assert.equal(
        result.consensus?.votes.every((v) => v.agent === 'beta'),
        true,
        'BETA proposed and settled it alone',
      );
      assert.ok(callsWith(fake, 'You are BETA', 'Task: propose').length >= 1, 'BETA took over proposing');
      assert.ok(
        (await handle.query(reportQuery))?.notes.some((n) => /ALPHA was revoked \(token budget.*BETA continued alone/.test(n)),
        'the report says so',
      );

      await until('the handoff reaches the ledger', async () => h.ledger.handoffs(pipelineId).length > 0, 10_000);
      const handoffs = h.ledger.handoffs(pipelineId);
      assert.equal(handoffs.length, 1);
      assert.equal(handoffs[0]!.role, 'alpha');
      assert.match(handoffs[0]!.reason, /token budget/);
      assert.equal(handoffs[0]!.tokens, alpha.tokens);
      assert.ok(handoffs[0]!.did.length >= 1, 'the handoff says what ALPHA did');
      const revoked = of(await h.events(pipelineId), 'agent_revoked');
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0]!.data.role, 'ALPHA');
      assert.match(String(revoked[0]!.data.reason), /token budget/);
      await h.recordHistory('llm-token-budget', handle);
    });
  });

  test('an invalid answer repaired within the call is no violation; one still invalid after its repair is one, and revokes at a violation budget of 1', async () => {
    await withFake('llm-repair', {}, async (fake, h) => {
      // Repaired: the first answer breaks its schema, the repair request (same activity) fixes it.
      fake.addFault({ kind: 'schema_invalid', match: 'Task: research' });
      const repaired = await h.start({ mode: 'openrouter', budgets: { errors: { violations: 1 } } });
      assert.equal((await repaired.result()).status, 'COMPLETED');
      const research = callsWith(fake, 'Task: research');
      assert.equal(research.length, 2);
      assert.match(bodyText(research[1]!), /Your answer could not be used/, 'the second request was the repair');
      const alphaRepaired = agent(await repaired.query(statusQuery), 'run', 'alpha');
      assert.equal(alphaRepaired.status, 'COMPLETED');
      assert.equal(alphaRepaired.violations, 0, 'a repaired answer is not a violation');
      assert.equal(alphaRepaired.errors, 0);
      assert.equal(agentCalls(await childHistory(h, repaired, 'run', 'alpha')).length, 1, 'the repair happened inside the one call');
      await h.recordHistory('llm-repaired', repaired);

      // Unrepairable, with room for one violation: counted once, the call is tried again, the agent stays.
      fake.reset();
      fake.addFault({ kind: 'schema_invalid', match: 'Task: research', times: 2 });
      const counted = await h.start({ mode: 'openrouter', budgets: { errors: { violations: 2 } } });
      const countedResult = await counted.result();
      assert.equal(countedResult.status, 'COMPLETED');
      assert.deepEqual(countedResult.revoked, []);
      assert.equal(callsWith(fake, 'Task: research').length, 3, 'original, repair, then a new try');
      const alphaCounted = agent(await counted.query(statusQuery), 'run', 'alpha');
      assert.equal(alphaCounted.status, 'COMPLETED');
      assert.equal(alphaCounted.violations, 1, 'two invalid answers in a row for one call are one violation');
      assert.equal(alphaCounted.errors, 1);

      // Unrepairable at the default violation budget of 1: reaching it revokes ALPHA; BETA continues.
      fake.reset();
      fake.addFault({ kind: 'schema_invalid', match: 'Task: research', times: 2 });
      const revoked = await h.start({ mode: 'openrouter', budgets: { errors: { violations: 1 } } });
      const revokedResult = await revoked.result();
      assert.equal(revokedResult.status, 'COMPLETED', 'BETA carried on alone');
      assert.deepEqual(revokedResult.revoked, ['alpha']);
      assert.equal(callsWith(fake, 'Task: research').length, 2, 'no try after the revocation');
      const alphaRevoked = agent(await revoked.query(statusQuery), 'run', 'alpha');
      assert.equal(alphaRevoked.status, 'REVOKED');
      assert.equal(alphaRevoked.violations, 1);
      assert.match(alphaRevoked.revokedReason ?? '', /procedure violation.*violation budget 1/);
      const pipelineId = pipelineIdFromWorkflowId(revoked.workflowId);
      await until('the handoff reaches the ledger', async () => h.ledger.handoffs(pipelineId).length > 0, 10_000);
      assert.equal(h.ledger.handoffs(pipelineId)[0]?.role, 'alpha');
      await h.recordHistory('llm-violation-revoked', revoked);
    });
  });

  test("the key appears nowhere in the worker's debug logs, the histories, the ledger or the events, even when the provider echoes it", async () => {
    const fake = await startFakeLlm({ apiKey: KEY });
    // No worker in the harness: the real `npm run worker` process serves this queue.
    const h = await startHarness('llm-key', { env: openrouterEnv(fake), roles: [] });
    const ledgerDir = mkdtempSync(join(tmpdir(), 'ag-llm-key-'));
    const chunks: Buffer[] = [];
    const logs = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    });
    const output = () => Buffer.concat(chunks).toString('utf8');
    const worker = startTs(
      'worker',
      'workers/main.ts',
      {
        ...process.env,
        TEMPORAL_TASK_QUEUE: h.taskQueue,
        LEDGER_PATH: join(ledgerDir, 'ledger.db'),
        LOG_LEVEL: 'debug',
        LLM_MODE: 'openrouter',
        OPENROUTER_API_KEY: KEY,
        OPENROUTER_BASE_URL: fake.url,
        BREAKER_FAILURES: '1000',
      },
      logs,
    );
    try {
      await resetBreaker(h, fake);
      await until('the worker is up', async () => /worker started/.test(output()) || worker.child.exitCode !== null, 60_000);
      assert.equal(worker.child.exitCode, null, `the worker started:\n${output().slice(-2000)}`);
      // A retried 500 and a fatal 401, both echoing the key in their error bodies.
      fake.addFault(
        { kind: 'status', status: 500, message: `upstream refused the credential ${KEY}`, match: 'Task: research' },
        {
          kind: 'status',
          status: 401,
          message: `Incorrect API key provided: ${KEY}. Find your key at https://example.invalid/keys`,
          match: 'Task: propose',
          times: 10,
        },
      );
      const handle = await h.start({ mode: 'openrouter' });
      const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
      const err = await handle.result().then(
        () => assert.fail('the pipeline completed with a rejected key'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String((err.cause as Error).message), /LlmAuth/);
      const failed = of(await h.events(pipelineId), 'pipeline_finished');
      assert.equal(failed[0]?.data.status, 'FAILED');
      await h.recordHistory('llm-key-scrubbed', handle);

      // The fake did receive the key, and echoed it: so its absence below means something.
      const completions = fake.completions();
      assert.ok(completions.length >= 4 && completions.every((r) => r.headers.authorization === `Bearer ${KEY}`), 'the worker sent the key');
      assert.ok(
        completions.some((r) => r.status === 401 && JSON.stringify(r.response).includes(KEY)),
        'the provider echoed it in a 401',
      );
      assert.ok(
        completions.some((r) => r.status === 500 && JSON.stringify(r.response).includes(KEY)),
        'and in a 500',
      );

      await worker.stop(); // flushes its logs, closes the ledger
      const text = output();
      assert.match(text, /"level":20/, 'debug logging was on');
      assert.match(text, /LlmAuth|401/, 'the 401 made it into the logs');
      assert.ok(!text.includes(KEY_TAIL), "the key is not in the worker's stdout or stderr");

      const histories = [await handle.fetchHistory()];
      for (const [phase, role] of [
        ['run', 'alpha'],
        ['run', 'beta'],
        ['orch', 'alpha'],
        ['orch', 'beta'],
      ] as const)
        histories.push(await childHistory(h, handle, phase, role));
      const historyText = JSON.stringify(histories);
      assert.match(historyText, /LlmAuth/, "the agents' histories hold the failures");
      assert.ok(!historyText.includes(KEY_TAIL), 'the key is in no history (pipeline or agents)');
      for (const f of ['ledger.db', 'ledger.db-wal']) {
        const file = join(ledgerDir, f);
        if (existsSync(file)) assert.ok(!readFileSync(file, 'latin1').includes(KEY_TAIL), `the key is not in ${f}`);
      }
      const events = JSON.stringify(await h.events(pipelineId));
      assert.match(events, /LlmAuth/);
      assert.ok(!events.includes(KEY_TAIL), 'the key is not in the events');
    } finally {
      await worker.stop();
      await h.stop();
      await fake.close();
    }
  });

  test('LLM_RATE_LIMIT holds the provider calls of a burst of pipelines to the limit; without it the same calls arrive faster', async () => {
    const PIPELINES = 3;
    const RATE = 2;
    const burst = async (h: Harness, fake: FakeLlm) => {
      const handles = await Promise.all(Array.from({ length: PIPELINES }, () => h.start({ mode: 'openrouter' })));
      const results = await Promise.all(handles.map((x) => x.result()));
      assert.ok(results.every((r) => r.status === 'COMPLETED'));
      return { handles, times: fake.completions().map((r) => r.at) };
    };
    let unlimited: number[] = [];
    await withFake('llm-unlimited', {}, async (fake, h) => {
      unlimited = (await burst(h, fake)).times;
    });
    await withFake('llm-rate-limit', { LLM_RATE_LIMIT: String(RATE) }, async (fake, h) => {
      const { handles, times } = await burst(h, fake);
      assert.equal(times.length, unlimited.length, 'the same calls');
      assert.ok(times.length >= 4 * PIPELINES);
      const worst = overLimit(times, RATE);
      assert.ok(worst <= 0, `no stretch of the run has more calls than ${RATE}/s allows (worst: ${worst} too many; arrivals ${relative(times)} ms)`);
      await h.recordHistory('llm-rate-limited', handles[0]!);
    });
    assert.ok(overLimit(unlimited, RATE) > 0, `without the limit the calls come faster than ${RATE}/s allows (arrivals ${relative(unlimited)} ms)`);
  });

  test("a model per role: each agent calls the model named for its role, others the pipeline's model", async () => {
    await withFake('llm-models', {}, async (fake, h) => {
      const handle = await h.start({ mode: 'openrouter', model: 'fake/pipeline-model', models: { alpha: 'fake/alpha-model', beta: 'fake/beta-model' } });
      await handle.signal(spawnGammaSignal, { reason: 'MANUAL' });
      assert.equal((await handle.result()).status, 'COMPLETED');
      const models = (brief: string) => [...new Set(callsWith(fake, brief).map(modelOf))];
      assert.deepEqual(models('You are ALPHA'), ['fake/alpha-model']);
      assert.deepEqual(models('You are BETA'), ['fake/beta-model']);
      assert.deepEqual(models('You are GAMMA'), ['fake/pipeline-model'], "GAMMA, not named, uses the pipeline's model");
      await h.recordHistory('llm-role-models', handle);
    });
  });
});

describe("the agents' work: full designs, shared findings, the message bus, bounded answers, the deliverable", () => {
  const userPromptOf = (r: RecordedRequest): string => {
    const messages = (r.body as { messages: { role: string; content: string }[] }).messages;
    return messages.find((m) => m.role === 'user')!.content;
  };

  test("BETA reviews ALPHA's design in full, a question from BETA is answered in ALPHA's next proposal, a vote off the proposal under review is rejected, and the report holds the adopted design", async () => {
    await withFake('llm-work', {}, async (fake, h) => {
      const question = 'How is memory bounded when a tenant floods the cache?';
      fake.addFault(
        // Round 1: BETA objects to P1 and asks ALPHA a question.
        {
          kind: 'content',
          content: JSON.stringify({ vote: { proposalId: 'P1', approve: false, reason: 'no memory bound' }, messages: [{ to: 'alpha', content: question }] }),
          match: 'Task: evaluate',
        },
        // Round 2: BETA votes for P1 while P2 is under review: rejected, so round 3 follows.
        { kind: 'content', content: JSON.stringify({ vote: { proposalId: 'P1', approve: true, reason: 'P1 after all' } }), match: 'Task: evaluate' },
      );
      const handle = await h.start({ mode: 'openrouter', thresholds: { conflictCount: 50 } });
      const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
      const result = await handle.result();
      assert.equal(result.status, 'COMPLETED');
      assert.equal(result.consensus?.proposalId, 'P3', 'the rejected vote did not adopt P1; P3 was');

      const orchestration = callsWith(fake, 'Task: ').filter((r) => !/Task: (research|synthesis)/.test(userPromptOf(r)));
      assert.ok(orchestration.length >= 6);
      for (const r of orchestration)
        assert.match(userPromptOf(r), /What RUN found: ALPHA \(research\): fake research about .*BETA \(success criteria\): fake synthesis about/);

      const [firstReview] = callsWith(fake, 'You are BETA', 'Task: evaluate');
      const review = userPromptOf(firstReview!);
      assert.match(review, /Proposal under review: P1 by ALPHA/);
      for (const section of ['Summary', 'Approach', 'Components', 'Trade-offs', 'Risks', 'Rollout']) {
        assert.match(review, new RegExp(`^  ${section}: fake ${section.toLowerCase()}`, 'm'), `BETA sees the ${section} of P1`);
      }

      const secondProposal = userPromptOf(callsWith(fake, 'You are ALPHA', 'Task: propose')[1]!);
      assert.match(secondProposal, new RegExp(`Messages to you since your last turn:\\n- from BETA \\(round 1\\): ${question.replace('?', '\\?')}`));
      assert.match(secondProposal, /Objections to the latest proposal:\n- BETA: no memory bound/);
      const o = await handle.query(orchestrationQuery);
      assert.match(o.proposals[1]!.summary, new RegExp(`answers BETA: ${question.replace('?', '\\?')}`), "ALPHA's next proposal answers the question");
      assert.deepEqual(
        o.rejectedVotes.map((v) => [v.agent, v.proposalId, v.why]),
        [['beta', 'P1', 'a vote counts only for the proposal under review (P2), not P1']],
      );

      const events = await h.events(pipelineId);
      assert.ok(of(events, 'agent_message').some((e) => e.data.from === 'BETA' && e.data.to === 'ALPHA' && e.data.content === question));
      assert.ok(
        Object.values(await h.redis.hgetall(boardKeys(pipelineId).messages)).some((m) => m.includes(question)),
        'kept on the blackboard',
      );

      const report = (await handle.query(reportQuery))!;
      const adopted = report.deliverable?.design;
      assert.equal(adopted?.id, 'P3');
      assert.equal(adopted?.adopted, true);
      const markdown = renderReportMarkdown(report);
      assert.match(markdown, /## Adopted design: /);
      for (const section of ['Approach', 'Components', 'Trade-offs', 'Risks', 'Rollout'])
        assert.match(markdown, new RegExp(`### ${section}\\n\\nfake ${section.toLowerCase()}`));
      assert.match(markdown, /## Dissents\n\n- BETA against P1: no memory bound/);
      await h.recordHistory('llm-agents-work', handle);
    });
  });

  test("GAMMA's prompt says why it was called in, with the trigger's detail and the objections", async () => {
    await withFake('llm-gamma-detail', {}, async (fake, h) => {
      // The fake's designs have complexity 0.4: above 0.3, COMPLEXITY calls GAMMA in on P1.
      const handle = await h.start({ mode: 'openrouter', thresholds: { complexity: 0.3, conflictCount: 50 } });
      await handle.result();
      const [mediation] = callsWith(fake, 'You are GAMMA', 'Task: mediate');
      assert.ok(mediation, 'GAMMA was asked to mediate');
      assert.match(userPromptOf(mediation), /You were called in because: COMPLEXITY \(P1 has complexity 0\.4 > 0\.3\)/);
      assert.match(userPromptOf(mediation), /Proposal under review: P1 by ALPHA/);
    });
  });

  test('a 1.5 MB answer is refused by its bounds, repaired once, then counted: the run ends in a defined status and no workflow task fails', async () => {
    await withFake('llm-huge', {}, async (fake, h) => {
      const huge = JSON.stringify({ proposal: { title: 'x'.repeat(1_500_000), summary: 's', design: {}, complexity: 0.3 } });
      fake.addFault({ kind: 'content', content: huge, match: 'Task: propose', times: 2 });
      const handle = await h.start({ mode: 'openrouter', budgets: { errors: { violations: 1 } } });
      const result = await handle.result();
      assert.equal(result.status, 'COMPLETED', 'BETA carried on alone');
      assert.deepEqual(result.revoked, ['alpha']);
      const history = await handle.fetchHistory();
      const types = (history.events ?? []).map((e) => String(e.eventType));
      assert.ok(!types.some((t) => /WORKFLOW_TASK_FAILED|TASK_FAILED/.test(t) && !/ACTIVITY/.test(t)), 'no workflow task failed');
      assert.ok(JSON.stringify(history).length < 500_000, 'the answer is not in the history');
      const alphaOrch = await childHistory(h, handle, 'orch', 'alpha');
      assert.ok(JSON.stringify(alphaOrch).length < 500_000, "nor in ALPHA's");
    });
  });
});
