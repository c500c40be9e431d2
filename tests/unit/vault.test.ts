import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OpenAiProvider } from '../../agents/openaiProvider';
import { ProviderError, type AgentRequest, type LlmProvider } from '../../agents/provider';
import type { LlmSettings } from '../../common/types';
import { startFakeLlm } from '../../devstack/fakeLlm';
import { ConfigError, parseConfig } from '../../lib/config';
import { refreshKeyOn401, VAULT_SECRETS, VaultClient, VaultError } from '../../lib/vault';
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

describe('Vault address', () => {
  const env = (addr: string) => ({ VAULT_ADDR: addr, VAULT_TOKEN: TOKEN });

  test('plain http to another machine is refused at config time, naming VAULT_ADDR', () => {
    for (const addr of ['http://vault.example:8200', 'http://10.0.0.5:8200', 'http://[fe80::1]:8200']) {
      const err = (() => {
        try {
          parseConfig(env(addr));
        } catch (e) {
          return e;
        }
        return assert.fail(`${addr} was accepted`);
      })();
      assert.ok(err instanceof ConfigError);
      assert.equal(err.variable, 'VAULT_ADDR');
      assert.match(err.message, /bad value for VAULT_ADDR: https:\/\/ \(http:\/\/ only to a loopback address/);
      assert.ok(!err.message.includes(TOKEN));
      assert.throws(() => new VaultClient({ addr, token: TOKEN }), /VAULT_ADDR must be https:\/\//);
    }
  });

  test('https anywhere and http to a loopback address are accepted', () => {
    for (const addr of ['https://vault.example:8200', 'http://127.0.0.1:8200', 'http://localhost:8200', 'http://[::1]:8200']) {
      assert.equal(parseConfig(env(addr)).VAULT_ADDR, addr);
    }
  });
});

describe('a key rotated in Vault', () => {
  const OLD = 'sk-or-v1-OLD-KEY-0123456789';
  const NEW = 'sk-or-v1-NEW-KEY-9876543210';
  const settings: LlmSettings = { mode: 'openrouter', model: 'fake/model', scenario: 'consensus', latencyMs: 0 };
  const req: AgentRequest = { pipelineId: 'p1', role: 'alpha', task: 'research', objective: 'Design a caching strategy', round: 0 };
  const call = (p: LlmProvider) => p.complete(req, settings, { attempt: 1 });

  async function setup() {
    const llm = await startFakeLlm({ apiKey: OLD });
    const path = VAULT_SECRETS.openrouterApiKey.path;
    vault.setSecret(path, { api_key: OLD });
    // A long TTL: without the refresh on 401, the old key would be used for the whole hour.
    const client = new VaultClient({ addr: vault.url, token: TOKEN, ttlMs: 3_600_000 });
    const plain = new OpenAiProvider({ baseURL: llm.url, apiKey: () => client.openrouterApiKey(), structuredOutput: 'json_schema', timeoutMs: 10_000 });
    await call(plain); // the old key is cached
    const rotate = (key: string) => {
      vault.setSecret(path, { api_key: key });
      llm.setApiKey(key);
    };
    return { llm, client, plain, rotate, path };
  }

  const keysSent = (llm: Awaited<ReturnType<typeof startFakeLlm>>) => llm.completions().map((r) => r.headers.authorization?.replace(/^Bearer /, ''));

  test('a 401 re-reads the key from Vault and the call succeeds with the new one', async () => {
    const { llm, client, plain, rotate, path } = await setup();
    try {
      rotate(NEW);
      llm.reset();
      const readsBefore = vault.reads.filter((p) => p === path).length;
      const done = await call(refreshKeyOn401(plain, client));
      assert.ok(done.answer.summary, 'an answer');
      assert.deepEqual(keysSent(llm), [OLD, NEW], 'one 401 with the cached key, then the fresh one');
      assert.equal(llm.completions()[0]!.status, 401);
      assert.equal(vault.reads.filter((p) => p === path).length - readsBefore, 1, 'one fresh read from Vault');
    } finally {
      await llm.close();
    }
  });

  test('without the refresh, the same rotation is a fatal auth error (what revoked every agent)', async () => {
    const { llm, plain, rotate } = await setup();
    try {
      rotate(NEW);
      const err = await call(plain).then(
        () => assert.fail('the stale key was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError && err.kind === 'auth' && !err.retryable);
    } finally {
      await llm.close();
    }
  });

  test('a key Vault does not have either is retried once only, then fatal', async () => {
    const { llm, client, plain } = await setup();
    try {
      llm.setApiKey('sk-or-v1-SOMEONE-ELSES');
      llm.reset();
      const err = await call(refreshKeyOn401(plain, client)).then(
        () => assert.fail('a key the provider refuses was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError && err.kind === 'auth', String(err));
      assert.deepEqual(keysSent(llm), [OLD, OLD], 'one retry with the re-read key, no more');
      assert.ok(!err.message.includes(OLD.slice(8)), 'the key does not reach the error');
    } finally {
      await llm.close();
    }
  });
});
