import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { VAULT_SECRETS, VaultClient, VaultError } from '../../lib/vault';
import { startFakeVault, type FakeVault } from '../fakes/fakeVault';

// lib/vault.ts against a local server speaking Vault's KV v2 read API.

const TOKEN = 'hvs.FAKE-VAULT-TOKEN-0123456789';
const API_KEY = 'sk-or-v1-from-vault-0123456789';
let vault: FakeVault;

before(async () => {
  vault = await startFakeVault({
    token: TOKEN,
    secrets: {
      [VAULT_SECRETS.openrouterApiKey.path]: { api_key: API_KEY },
      [VAULT_SECRETS.dragonflyPassword.path]: { password: 'dragonfly-pass' },
      'secret/data/api-keys/empty': { other: 'SHOULD-NOT-APPEAR' },
    },
  });
});
after(() => vault.close());

async function vaultError(p: Promise<unknown>): Promise<VaultError> {
  const err = await p.then(
    () => assert.fail('the read should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof VaultError, `expected a VaultError, got ${String(err)}`);
  assert.ok(!err.message.includes(TOKEN), `the token leaked into: ${err.message}`);
  return err;
}

describe('Vault KV v2', () => {
  test('reads the OpenRouter key and the Dragonfly password with the token', async () => {
    const client = new VaultClient({ addr: `${vault.url}/`, token: TOKEN });
    assert.equal(await client.openrouterApiKey(), API_KEY);
    assert.equal(await client.dragonflyPassword(), 'dragonfly-pass');
  });

  test('caches values for the TTL, one request for concurrent readers; invalidate() reads again', async () => {
    const path = 'secret/data/api-keys/rotating';
    vault.setSecret(path, { api_key: 'first' });
    const client = new VaultClient({ addr: vault.url, token: TOKEN, ttlMs: 3_600_000 });
    const before = vault.reads.length;
    const values = await Promise.all([1, 2, 3, 4].map(() => client.read(path, 'api_key')));
    assert.deepEqual(values, ['first', 'first', 'first', 'first']);
    vault.setSecret(path, { api_key: 'rotated' });
    assert.equal(await client.read(path, 'api_key'), 'first', 'within the TTL');
    assert.equal(vault.reads.length - before, 1);
    client.invalidate();
    assert.equal(await client.read(path, 'api_key'), 'rotated');
  });

  test('a rotated value is picked up once the TTL has passed', async () => {
    const path = 'secret/data/api-keys/rotating-ttl';
    vault.setSecret(path, { api_key: 'old' });
    const client = new VaultClient({ addr: vault.url, token: TOKEN, ttlMs: 0 });
    assert.equal(await client.read(path, 'api_key'), 'old');
    vault.setSecret(path, { api_key: 'new' });
    assert.equal(await client.read(path, 'api_key'), 'new');
  });

  test('a bad token is a clear 403 that does not show the token', async () => {
    const client = new VaultClient({ addr: vault.url, token: 'hvs.WRONG-TOKEN-ABC' });
    const err = await vaultError(client.openrouterApiKey());
    assert.equal(err.status, 403);
    assert.equal(err.retryable, false);
    assert.match(err.message, /denied reading secret\/data\/api-keys\/openrouter.*VAULT_TOKEN/);
    assert.ok(!err.message.includes('WRONG-TOKEN'));
  });

  test('a missing secret or field is named, without the secret values', async () => {
    const client = new VaultClient({ addr: vault.url, token: TOKEN });
    const missing = await vaultError(client.read('secret/data/api-keys/nothing', 'api_key'));
    assert.equal(missing.status, 404);
    assert.match(missing.message, /no secret at secret\/data\/api-keys\/nothing/);
    const noField = await vaultError(client.read('secret/data/api-keys/empty', 'api_key'));
    assert.match(noField.message, /has no field "api_key"/);
    assert.ok(!noField.message.includes('SHOULD-NOT-APPEAR'));
  });

  test('an unreachable Vault says so and names VAULT_ADDR', async () => {
    const gone = await startFakeVault({ token: TOKEN });
    await gone.close();
    const err = await vaultError(new VaultClient({ addr: gone.url, token: TOKEN }).openrouterApiKey());
    assert.match(err.message, /unreachable.*ECONNREFUSED.*VAULT_ADDR/);
    assert.equal(err.retryable, true);
  });

  test('while Vault is down a recent value is still used; an old one is not', async () => {
    const path = 'secret/data/api-keys/sealed';
    vault.setSecret(path, { api_key: 'cached' });
    const tolerant = new VaultClient({ addr: vault.url, token: TOKEN, ttlMs: 0, staleIfErrorMs: 3_600_000 });
    const strict = new VaultClient({ addr: vault.url, token: TOKEN, ttlMs: 0, staleIfErrorMs: 0 });
    await tolerant.read(path, 'api_key');
    await strict.read(path, 'api_key');
    vault.failWith(503);
    try {
      assert.equal(await tolerant.read(path, 'api_key'), 'cached');
      const err = await vaultError(strict.read(path, 'api_key'));
      assert.equal(err.status, 503);
      assert.match(err.message, /answered 503.*Vault is sealed/);
    } finally {
      vault.failWith(undefined);
    }
  });
});
