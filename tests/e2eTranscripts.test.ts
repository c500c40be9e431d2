import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { breakerKeys, breakerName } from '../lib/breaker';
import { listen, startApi, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';

// The dashboard in headless Chromium (as tests/e2e.test.ts) on a pipeline in openrouter mode against
// the fake server: an agent's answer forms on the page while the (slow) stream runs, and the LLM
// transcripts are listed per agent once the calls are recorded. Skipped where Chromium is missing.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const KEY = 'E2E-TRANSCRIPT-fake-credential-1a2b3c4d';
const installed = existsSync(CHROMIUM);

let fake: FakeLlm;
let h: Harness;
let app: Api;
let base: string;
let browser: Browser | undefined;
before(async () => {
  if (!installed) return;
  fake = await startFakeLlm({ apiKey: KEY });
  h = await startHarness('e2e-transcripts', { env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' } });
  await h.redis.del(...breakerKeys(breakerName(fake.url)));
  app = await startApi(h);
  base = `http://${await listen(app)}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  await app?.close();
  await h?.stop();
  await fake?.close();
});

test('the page shows an answer forming, then the transcripts per agent', { timeout: 120_000 }, async (t) => {
  if (!installed) return t.skip(`Chromium is not installed at ${CHROMIUM}`);
  const page = await browser!.newPage();
  t.after(() => page.close());
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });

  const research = 'Findings, streamed slowly: <b>not markup</b> '.padEnd(300, '~');
  // Partials are live only: the stream lasts long enough (12 s) for a page that loads slowly on a busy machine to join it.
  fake.addFault({ kind: 'slow_stream', match: 'Task: research', chunkMs: 250, chunks: 48, content: JSON.stringify({ summary: research }) });
  const handle = await h.start({ mode: 'openrouter', model: 'openai/gpt-4o-mini', maxRounds: 2 });
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  await page.goto(`${base}/#/pipeline/${encodeURIComponent(pipelineId)}`);

  // Forming: some of the answer is on the page while the provider is still sending it.
  const live = page.locator('.live-agent', { hasText: 'ALPHA · research' });
  await live.locator('pre', { hasText: 'Findings, streamed slowly' }).waitFor({ timeout: 30_000 });
  const request = fake.completions().find((r) => r.fault === 'slow_stream');
  assert.ok(request && request.finishedAt === undefined, 'the stream was still running when the page showed its start');
  await live.locator('div', { hasText: 'done (ok)' }).waitFor({ timeout: 30_000 });
  assert.match((await live.locator('pre').textContent()) ?? '', /<b>not markup<\/b>/, 'shown as text, not HTML');
  assert.equal(await live.locator('b').count(), 0);

  await handle.result();
  // The transcripts: a section per agent, each call with its raw answer.
  await page.locator('#transcript details.agent').nth(1).waitFor({ timeout: 30_000 });
  const agents = await page.locator('#transcript details.agent > summary').allTextContents();
  assert.ok(agents.some((a) => a.startsWith('ALPHA')) && agents.some((a) => a.startsWith('BETA')), `a section per agent: ${agents.join(' | ')}`);
  const alpha = page.locator('#transcript details.agent', { hasText: `${handle.workflowId}-run-alpha` });
  await alpha.locator('summary').first().click();
  await alpha.locator('details.call summary', { hasText: 'research' }).click();
  const text = (await alpha.textContent()) ?? '';
  assert.ok(text.includes('Findings, streamed slowly: <b>not markup</b>'), 'the raw answer, as text');
  assert.match(text, /user:\n/, 'the messages as sent');
  assert.doesNotMatch(text, /\[object Object\]|\bundefined\b/);
  assert.ok(!(await page.content()).includes(KEY), 'no key on the page');
  assert.deepEqual(problems, []);
  // Let the page's last requests finish before the API and the harness close under them.
  await page.waitForLoadState('networkidle');
  await page.close();
});
