import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';
import { VAULT_SECRETS } from '../lib/vault';
import { startFakeVault, type FakeVault } from './fakes/fakeVault';
import { startHarness, type Harness } from './helpers/harness';

// A key rotated in Vault while the worker holds the old one in its cache (5 minutes): the provider's
// 401 makes the worker read the key again, and the pipeline runs on without a revoked agent.

const TOKEN = 'hvs.ROTATION-TEST-TOKEN-0123456789';
const OLD = 'sk-or-v1-ROTATION-OLD-0123456789';
const NEW = 'sk-or-v1-ROTATION-NEW-9876543210';
const PATH = VAULT_SECRETS.openrouterApiKey.path;

let vault: FakeVault;
let llm: FakeLlm;
let h: Harness;
before(async () => {
  vault = await startFakeVault({ token: TOKEN, secrets: { [PATH]: { api_key: OLD } } });
  llm = await startFakeLlm({ apiKey: OLD });
  h = await startHarness('vault-rotation', { env: { VAULT_ADDR: vault.url, VAULT_TOKEN: TOKEN, OPENROUTER_BASE_URL: llm.url, BREAKER_FAILURES: '1000' } });
});
after(async () => {
  await h?.stop();
  await llm?.close();
  await vault?.close();
});

const keyOf = (authorization: string | undefined) => authorization?.replace(/^Bearer /, '');

describe('Vault key rotation', () => {
  test('a pipeline after the rotation gets a 401 with the cached key, re-reads it, and completes with no agent revoked', async () => {
    const first = await h.start({ mode: 'openrouter' });
    assert.equal((await first.result()).status, 'COMPLETED');
    assert.ok(llm.completions().every((c) => keyOf(c.headers.authorization) === OLD));

    vault.setSecret(PATH, { api_key: NEW });
    llm.setApiKey(NEW);
    llm.reset();
    const readsBefore = vault.reads.length;

    const second = await h.start({ mode: 'openrouter' });
    const result = await second.result();
    assert.equal(result.status, 'COMPLETED', `${result.status}: ${result.reason ?? ''}`);
    assert.deepEqual(result.revoked, [], 'no agent was revoked for the stale key');

    const calls = llm.completions();
    const refused = calls.filter((c) => c.status === 401);
    // RUN's two agents call at once: each may meet the stale key once, never more.
    assert.ok(refused.length >= 1 && refused.length <= 2, `the stale key was refused once per call in flight (${refused.length})`);
    assert.ok(
      refused.every((c) => keyOf(c.headers.authorization) === OLD),
      'only the old key was refused',
    );
    const after401 = calls.slice(calls.indexOf(refused.at(-1)!) + 1);
    assert.ok(after401.length >= 3 && after401.every((c) => keyOf(c.headers.authorization) === NEW && c.status === 200), 'then every call used the new key');
    const reads = vault.reads.length - readsBefore;
    assert.ok(reads >= 1 && reads <= 2, `the key was read from Vault again, once per refused call at most (${reads})`);
  });
});
