import { existsSync, readFileSync } from 'node:fs';
import { allWorkflowIds, endStatus, history, http, spawn } from './observe';
import type { CaseRecorder } from './report';
import { CHAOS_KEY, CHAOS_TOKEN, type ChaosStack } from './stack';

// R6: a pipeline through the provider with a recognisable key, driven through the API with a
// recognisable token; neither may appear in any history, ledger byte, Redis value or line any process
// printed. And every route but the public ones refuses a missing or wrong token.

const PUBLIC = (path: string) => path === '/healthz' || path === '/' || path === '/docs' || path.startsWith('/docs/') || path.startsWith('/dashboard');

const occurrences = (hay: Buffer | string, needle: string): number => {
  const buf = typeof hay === 'string' ? Buffer.from(hay) : hay;
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + 1)) n++;
  return n;
};

async function redisValues(stack: ChaosStack): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await stack.redis.scan(cursor, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await stack.redis.type(key);
      parts.push(key);
      if (type === 'string') parts.push((await stack.redis.get(key)) ?? '');
      else if (type === 'zset') parts.push(...(await stack.redis.zrange(key, 0, -1)));
      else if (type === 'hash') parts.push(JSON.stringify(await stack.redis.hgetall(key)));
      else if (type === 'list') parts.push(...(await stack.redis.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(...(await stack.redis.smembers(key)));
      else if (type === 'stream') parts.push(JSON.stringify(await stack.redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

export async function secrets(stack: ChaosStack, rec: CaseRecorder): Promise<void> {
  stack.fake.setRandomFaults(undefined);
  const id = await spawn(stack, { mode: 'openrouter', auto_continue: true, model: 'openai/gpt-4o-mini' }, 'r6');
  const end = await endStatus(stack, id, 120_000);
  rec.check('a pipeline through the provider with the key', end, end === 'COMPLETED');
  // Also what the API hands out for it.
  const served = (
    await Promise.all(['', '/orchestration', '/transcript', '/checkpoints', '/report.md'].map((p) => http(stack, 'GET', `/api/pipeline/${id}${p}`)))
  )
    .map((a) => a.text)
    .join('\n');

  const where: Record<string, number> = {};
  const count = (label: string, hay: Buffer | string) => {
    const n = occurrences(hay, CHAOS_KEY) + occurrences(hay, CHAOS_TOKEN);
    if (n) where[label] = (where[label] ?? 0) + n;
  };
  const ids = await allWorkflowIds(stack);
  for (const wf of ids) count('histories', (await history(stack, wf).catch(() => ({ bytes: Buffer.alloc(0) }))).bytes);
  for (const suffix of ['', '-wal']) if (existsSync(stack.ledgerPath + suffix)) count('ledger file', readFileSync(stack.ledgerPath + suffix));
  count('Redis', await redisValues(stack));
  count('process output', stack.logText());
  count('API answers', served);
  const total = Object.values(where).reduce((a, b) => a + b, 0);
  rec.check(
    `key and token in ${ids.length} histories, the ledger, Redis, all process output, API answers`,
    total
      ? Object.entries(where)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')
      : 0,
    total === 0,
  );

  // Every route of the OpenAPI document, and /ws, without a token and with a wrong one.
  const doc = await http(stack, 'GET', '/docs/json', { token: null });
  const paths = (doc.body as { paths?: Record<string, Record<string, unknown>> } | null)?.paths ?? {};
  const routes = Object.entries(paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((m) => [m.toUpperCase(), path.replace(/\{[^}]+\}/g, id)] as const),
  );
  const open: string[] = [];
  let tried = 0;
  for (const [method, path] of routes) {
    if (PUBLIC(path) || method === 'HEAD' || method === 'OPTIONS') continue;
    for (const token of [null, 'wrong-token-wrong-token-wrong']) {
      tried++;
      const a = await http(stack, method, path, { token, ...(method === 'POST' ? { body: {} } : {}) });
      if (a.status !== 401) open.push(`${method} ${path} ${token ? 'wrong' : 'none'}: ${a.status}`);
    }
  }
  for (const token of [null, 'wrong-token-wrong-token-wrong']) {
    tried++;
    const ws = await wsRefused(stack, id, token);
    if (!ws) open.push(`/ws ${token ? 'wrong' : 'none'}: upgraded`);
  }
  rec.check(
    `non-public routes that answer without the right token (${tried} tried)`,
    open.length ? `${open.length}: ${open.slice(0, 3).join('; ')}` : 0,
    open.length === 0 && routes.length > 5,
  );
}

async function wsRefused(stack: ChaosStack, id: string, token: string | null): Promise<boolean> {
  const { WebSocket } = await import('ws');
  const url = `${stack.apiUrl.replace(/^http/, 'ws')}/ws?pipeline_id=${id}&since=0`;
  const ws = new WebSocket(url, token ? ['agent-governance', `bearer.${Buffer.from(token).toString('base64url')}`] : undefined);
  return new Promise((resolve) => {
    ws.once('open', () => {
      ws.terminate();
      resolve(false);
    });
    ws.once('unexpected-response', () => {
      ws.terminate();
      resolve(true);
    });
    ws.once('error', () => resolve(true));
  });
}
