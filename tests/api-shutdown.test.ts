import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ledger } from '../lib/ledger';
import { REPO_ROOT } from '../devstack/processes';
import { freePort } from '../devstack/temporalServer';
import { WsClient } from './helpers/api';

// `npm run api` as a process: it serves, and on SIGTERM it stops gracefully — WebSocket clients are
// told (1001) so they can reconnect elsewhere with their `since`, and the process exits 0.

test('SIGTERM: WebSocket clients hear 1001, the process exits 0', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const ledgerPath = join(mkdtempSync(join(tmpdir(), 'ag-api-')), 'ledger.db');
  new Ledger(ledgerPath).close(); // as the worker would: the API only reads it
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      LEDGER_PATH: ledgerPath,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < deadline, `the API did not come up: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const client = await WsClient.open(`127.0.0.1:${port}`, '');
    child.kill('SIGTERM');
    const closed = await client.closed;
    assert.equal(closed.code, 1001, `close code (${closed.reason})`);
    assert.equal(await exited, 0, stderr);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'no longer listening');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
