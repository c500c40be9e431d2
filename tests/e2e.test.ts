import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { pipelineWorkflowId } from '../common/ids';
import { reportQuery } from '../common/messages';
import { listen, startApi, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';

// The dashboard in headless Chromium (Debian's package, driven by playwright-core), against the real
// API, worker, Temporal and Redis, with API_TOKEN set: the page takes the token, spawns a pipeline,
// follows it to COMPLETED and shows its report; a second pipeline is steered with the buttons.
// Skipped (not failed) only where Chromium is not installed. The page's content security policy forbids
// eval, so waits use selectors, never string expressions.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'e2e-token-0123456789abcdef';
const installed = existsSync(CHROMIUM);

let h: Harness;
let app: Api;
let base: string;
let browser: Browser | undefined;
before(async () => {
  if (!installed) return;
  h = await startHarness('e2e');
  app = await startApi(h, { token: TOKEN });
  base = `http://${await listen(app)}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  await app?.close();
  await h?.stop();
});

/** A page that records every request it makes and every error it reports. */
async function openDashboard(): Promise<{ page: Page; requests: string[]; problems: string[] }> {
  const page = await browser!.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    // A refused or failed request is the page's to show (401 before the token is entered, a 503 while
    // a dependency is slow); script errors and content-security-policy violations are problems.
    if (m.type() === 'error' && !/Failed to load resource|Authentication failed/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${base}/`);
  await page.fill('#token', TOKEN);
  await page.click('#token-form button[type=submit]');
  return { page, requests, problems };
}

const selectedId = (page: Page): string => decodeURIComponent(new URL(page.url()).hash.replace('#/pipeline/', ''));

test('spawn from the page, watch it reach COMPLETED, read the report there', { timeout: 120_000 }, async (t) => {
  if (!installed) return t.skip(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`);
  const { page, requests, problems } = await openDashboard();
  t.after(() => page.close());
  await page.fill('#objective', 'Design a caching strategy');
  await page.check('#auto-continue');
  await page.selectOption('#mode', 'local');
  await page.selectOption('#scenario', 'consensus');
  await page.click('#spawn');

  await page.waitForURL(/#\/pipeline\//);
  const pipelineId = selectedId(page);
  await page.waitForSelector('#p-status[data-status="COMPLETED"]', { timeout: 90_000 });
  await page.waitForSelector('#report[data-kind="final"]');
  await page.waitForSelector('#events li[data-type="pipeline_finished"]');

  // The report on the page is the workflow's report.
  const report = await h.client.workflow.getHandle(pipelineWorkflowId(pipelineId)).query(reportQuery);
  const shown = await page.textContent('#report');
  assert.ok(report && shown, 'a report is shown');
  assert.ok(shown.includes(report.summary.slice(0, 60)), `the page shows the report's summary: ${shown.slice(0, 200)}`);
  assert.match(shown, /final report · COMPLETED/);
  assert.doesNotMatch(shown, /\bnull\b|\bundefined\b|\[object Object\]/, 'nothing rendered from a missing value');
  assert.equal(await page.locator('#phases li.done').count(), 5, 'every phase done');
  assert.ok((await page.locator('#agents tbody tr').count()) >= 2, 'agents listed');
  assert.ok((await page.locator('#proposals tbody tr').count()) >= 1, 'proposals listed');
  // Every event once, in order, in the log.
  const logged = await page.locator('#events li').evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-seq'))));
  assert.deepEqual(
    logged,
    logged.map((_, i) => i + 1),
  );
  assert.equal(
    await page.getAttribute('#p-temporal', 'href'),
    `${h.config.TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${h.config.TEMPORAL_NAMESPACE}/workflows/${pipelineWorkflowId(pipelineId)}`,
  );
  await page.waitForSelector(`#pipelines tr[data-pipeline="${pipelineId}"]`, { timeout: 30_000 });

  const origin = new URL(base).origin;
  assert.deepEqual(
    requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith(origin.replace('http', 'ws'))),
    [],
    'nothing from another site',
  );
  assert.deepEqual(problems, []);
});

/** Spawns an auto-continued consensus pipeline from the page and returns its id. */
async function spawnConsensus(page: Page, objective: string): Promise<string> {
  await page.fill('#objective', objective);
  await page.check('#auto-continue');
  await page.selectOption('#mode', 'local');
  await page.selectOption('#scenario', 'consensus');
  await page.click('#spawn');
  await page.waitForURL(/#\/pipeline\//);
  return selectedId(page);
}

test('an answer that arrives late does not take the page back to an older state', { timeout: 120_000 }, async (t) => {
  if (!installed) return t.skip(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`);
  const { page, problems } = await openDashboard();
  t.after(() => page.close());
  // The page's first read of the pipeline is answered at once, but its orchestration part reaches the
  // page only after the pipeline has finished (a slow API under load does this).
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let heldRequest: Request | undefined;
  await page.route('**/orchestration', async (route) => {
    if (heldRequest) return route.continue();
    heldRequest = route.request();
    const response = await route.fetch();
    await held;
    await route.fulfill({ response });
  });
  await spawnConsensus(page, 'Design a session store');
  await page.waitForSelector('#p-status[data-status="COMPLETED"]', { timeout: 90_000 });
  await page.waitForSelector('#events li[data-type="pipeline_finished"]');
  await page.waitForSelector('#proposals tbody tr');

  const delivered = page.waitForEvent('requestfinished', (r) => r === heldRequest);
  release();
  await delivered;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.getAttribute('#p-status', 'data-status'), 'COMPLETED', 'the status stays the newest read');
  assert.equal(await page.locator('#phases li.done').count(), 5);
  assert.ok((await page.locator('#proposals tbody tr').count()) >= 1, 'the proposals stay listed');
  assert.deepEqual(problems, []);
});

test("a finished pipeline's read that failed is read again", { timeout: 120_000 }, async (t) => {
  if (!installed) return t.skip(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`);
  const { page } = await openDashboard();
  t.after(() => page.close());
  // Every orchestration read fails until one is made after the last event was shown: no event comes
  // after it to read again on.
  let failing = true;
  await page.route('**/orchestration', async (route) => {
    if (!failing) return route.continue();
    if ((await page.locator('#events li[data-type="pipeline_finished"]').count()) > 0) failing = false;
    return route.fulfill({
      status: 503,
      contentType: 'application/json',
      body: JSON.stringify({ statusCode: 503, error: 'Service Unavailable', message: 'busy' }),
    });
  });
  await spawnConsensus(page, 'Design a job queue');
  await page.waitForSelector('#p-status[data-status="COMPLETED"]', { timeout: 90_000 });
  await page.waitForSelector('#events li[data-type="pipeline_finished"]');
  await page.waitForSelector('#proposals tbody tr', { timeout: 15_000 });
});

test('steer from the page: spawn GAMMA and continue a pipeline waiting at REPORT', { timeout: 120_000 }, async (t) => {
  if (!installed) return t.skip(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`);
  const { page, problems } = await openDashboard();
  t.after(() => page.close());
  await page.fill('#objective', 'Design a rate limiter');
  await page.uncheck('#auto-continue');
  await page.selectOption('#scenario', 'consensus');
  await page.click('#spawn');
  await page.waitForURL(/#\/pipeline\//);
  await page.waitForSelector('#p-status[data-status="REPORT"]', { timeout: 60_000 });
  assert.match((await page.textContent('#report')) ?? '', /run report · REPORT/);
  assert.equal(await page.isDisabled('#btn-recover'), true, 'recover only in ORCHESTRATION_FAILED');

  await page.click('#btn-gamma');
  await page.locator('#action-msg', { hasText: 'spawn GAMMA: accepted' }).waitFor();
  await page.click('#btn-continue');
  await page.waitForSelector('#p-status[data-status="COMPLETED"]', { timeout: 90_000 });
  await page.locator('#gamma', { hasText: 'spawned · reason MANUAL' }).waitFor();
  assert.ok((await page.locator('#agents tbody tr[data-agent$="-orch-gamma"]').count()) === 1, 'GAMMA is among the agents');
  assert.deepEqual(problems, []);
});

test('recover from the page: a pipeline without consensus waits in ORCHESTRATION_FAILED, accept_partial completes it', { timeout: 180_000 }, async (t) => {
  if (!installed) return t.skip(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`);
  const { page, problems } = await openDashboard();
  t.after(() => page.close());
  await page.fill('#objective', 'Pick a database');
  await page.check('#auto-continue');
  await page.selectOption('#scenario', 'no_consensus');
  await page.click('#spawn');
  await page.waitForURL(/#\/pipeline\//);
  await page.waitForSelector('#p-status[data-status="ORCHESTRATION_FAILED"]', { timeout: 150_000 });
  await page.waitForSelector('#btn-recover:not([disabled])');
  assert.equal(await page.isDisabled('#btn-continue'), true);
  await page.selectOption('#recover-action', 'accept_partial');
  await page.click('#btn-recover');
  await page.waitForSelector('#p-status[data-status="COMPLETED"]', { timeout: 60_000 });
  await page.locator('#orch-status', { hasText: 'partial' }).waitFor();
  assert.deepEqual(problems, []);
});
