import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerFor, promptText, type ChatBody } from './fakeAnswers';

// A fake OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models) for tests and for trying
// the openrouter mode offline (`npm run fake-llm`). Faults are queued per test without a restart —
// in-process with addFault(), or over HTTP with POST /_fault — and every request is recorded (headers
// included: it is a fake, the tests check Authorization, HTTP-Referer and X-Title) for inspection.

export type FaultSpec =
  /** Answer this HTTP status with an OpenAI-style error body; a 401 echoes the key as OpenAI does. */
  | { kind: 'status'; status: number; retryAfter?: number | string; message?: string }
  /** Answer normally, but only after `ms` (past a client's timeout). */
  | { kind: 'delay'; ms: number }
  /** Content that is not JSON at all. */
  | { kind: 'malformed' }
  /** JSON that follows no task's schema. */
  | { kind: 'schema_invalid' }
  /** This content; `completionTokens` reports more tokens than the text has, as a model that reasons before it answers does. */
  | { kind: 'content'; content: string; completionTokens?: number; noUsage?: boolean }
  /** HTTP 200 with OpenRouter's in-body error instead of choices. */
  | { kind: 'body_error'; code: number; message?: string }
  /** Close the connection without answering (a network error for the client). */
  | { kind: 'disconnect' }
  /** A streamed answer (`stream: true`) sent in `chunks` pieces, `chunkMs` apart; a plain request gets it after the same time. */
  | { kind: 'slow_stream'; chunkMs: number; chunks?: number; content?: string };

/** A fault applies to the next chat request (whose body contains `match`, when given), `times` times (default 1). */
export type Fault = FaultSpec & { match?: string; times?: number };

const FAULT_KINDS = new Set(['status', 'delay', 'malformed', 'schema_invalid', 'content', 'body_error', 'disconnect', 'slow_stream']);

export interface RecordedRequest {
  seq: number;
  /** When it arrived (epoch ms, this process's clock). */
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  /** The fault applied to it, if any. */
  fault?: FaultSpec['kind'];
  status?: number;
  /** The answer body sent (chat completions, errors included); for a streamed answer, the completion its chunks add up to. */
  response?: unknown;
  /** The answer was streamed (server-sent events). */
  streamed?: boolean;
  /** When the answer was complete (epoch ms). */
  finishedAt?: number;
  /** The connection ended before an answer was sent: the client went away (or a disconnect fault). */
  aborted: boolean;
}

export interface FakeLlmOptions {
  port?: number;
  host?: string;
  /** When set, any other bearer token gets a 401. */
  apiKey?: string;
  /** Reported as `usage.cost` per token (OpenRouter style); 0 omits the cost. */
  costPerToken?: number;
  /** Faults drawn at random (after any queued fault): reproducible, for `npm run chaos`. */
  randomFaults?: RandomFaults;
}

/** Each chat request without a queued fault gets one of `faults`, picked uniformly, with probability `rate`. */
export interface RandomFaults {
  rate: number;
  /** Same seed, same sequence of draws. */
  seed: number;
  faults: FaultSpec[];
}

/** mulberry32: a tiny seeded generator, so a chaos run's faults can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FakeLlm {
  /** The base URL to give the client (…/v1). */
  url: string;
  port: number;
  /** Every request so far, oldest first (a live array). */
  readonly requests: RecordedRequest[];
  /** The chat completion requests only. */
  completions(): RecordedRequest[];
  addFault(...faults: Fault[]): void;
  /** Accepts only this key from now on (a rotated key); undefined accepts any. */
  setApiKey(key: string | undefined): void;
  clearFaults(): void;
  /** Turns the random faults on (or off, with undefined) without a restart. */
  setRandomFaults(random: RandomFaults | undefined): void;
  pendingFaults(): Fault[];
  /** Clears faults and recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

const tokens = (text: string): number => Math.ceil(text.length / 4);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const errorBody = (message: string, status: number) => ({ error: { message, type: status === 401 ? 'invalid_request_error' : 'fake_error', code: status } });

export async function startFakeLlm(opts: FakeLlmOptions = {}): Promise<FakeLlm> {
  const requests: RecordedRequest[] = [];
  let faults: { fault: Fault; left: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const costPerToken = opts.costPerToken ?? 0.000002;
  let apiKey = opts.apiKey;
  let random = opts.randomFaults;
  let draw = seededRandom(random?.seed ?? 0);
  const setRandomFaults = (r: RandomFaults | undefined) => {
    random = r;
    draw = seededRandom(r?.seed ?? 0);
  };

  const takeFault = (text: string): Fault | undefined => {
    const entry = faults.find((f) => f.fault.match === undefined || text.includes(f.fault.match));
    if (!entry) {
      if (!random || random.faults.length === 0 || draw() >= random.rate) return undefined;
      return random.faults[Math.floor(draw() * random.faults.length)];
    }
    entry.left -= 1;
    if (entry.left <= 0) faults = faults.filter((f) => f !== entry);
    return entry.fault;
  };

  const addFault = (...list: Fault[]) => {
    for (const fault of list) {
      if (!FAULT_KINDS.has(fault?.kind)) throw new Error(`unknown fault kind ${JSON.stringify(fault?.kind)}`);
      faults.push({ fault, left: fault.times ?? 1 });
    }
  };

  const wait = (ms: number, res: ServerResponse) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(true), ms);
      timers.add(timer);
      const onClose = () => done(false);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        timers.delete(timer);
        res.off('close', onClose);
        resolve(ok);
      };
      res.on('close', onClose);
    });

  async function chat(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, text: string): Promise<void> {
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!key || (apiKey !== undefined && key !== apiKey)) {
      rec.status = 401;
      rec.response = errorBody(`Incorrect API key provided: ${key ?? '(none)'}`, 401);
      return send(res, 401, rec.response);
    }
    let body: ChatBody & { stream?: boolean; stream_options?: { include_usage?: boolean } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      rec.status = 400;
      return send(res, 400, errorBody('request body is not JSON', 400));
    }
    const fault = takeFault(text);
    rec.fault = fault?.kind;
    let content: string | undefined;
    let completionOverride: number | undefined;
    let noUsage = false;
    switch (fault?.kind) {
      case 'status': {
        rec.status = fault.status;
        const message = fault.message ?? (fault.status === 401 ? `Incorrect API key provided: ${key}` : `fake failure ${fault.status}`);
        const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
        rec.response = errorBody(message, fault.status);
        return send(res, fault.status, rec.response, headers);
      }
      case 'disconnect':
        req.socket.destroy();
        return;
      case 'delay':
        if (!(await wait(fault.ms, res))) return;
        break;
      case 'malformed':
        content = 'Sure! Here is my answer: {"summary": unfinished';
        break;
      case 'schema_invalid':
        content = JSON.stringify({ unexpected: true });
        break;
      case 'content':
        content = fault.content;
        completionOverride = fault.completionTokens;
        noUsage = fault.noUsage ?? false; // a provider that reports no usage: the client must estimate it
        break;
      case 'body_error':
        rec.status = 200;
        rec.response = { error: { code: fault.code, message: fault.message ?? `fake upstream failure ${fault.code}` } };
        // Streamed, OpenRouter sends it as an event of the stream.
        if (body.stream) {
          rec.streamed = true;
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(`data: ${JSON.stringify(rec.response)}\n\n`);
          return;
        }
        return send(res, 200, rec.response);
      case 'slow_stream':
        content = fault.content;
        break;
    }
    content ??= answerFor(body);
    const promptTokens = tokens(promptText(body));
    const completionTokens = completionOverride ?? tokens(content);
    const total = promptTokens + completionTokens;
    const usage: Record<string, number> = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: total };
    if (costPerToken > 0) usage.cost = Math.round(total * costPerToken * 1e9) / 1e9;
    rec.status = 200;
    rec.response = {
      id: `chatcmpl-fake-${rec.seq}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? 'fake/model',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
      ...(noUsage ? {} : { usage }),
    };
    const slow = fault?.kind === 'slow_stream' ? fault : undefined;
    if (!body.stream) {
      if (slow && !(await wait(slow.chunkMs * (slow.chunks ?? 10), res))) return;
      send(res, 200, rec.response);
      rec.finishedAt = Date.now();
      return;
    }
    // Server-sent events as OpenAI streams them: the role, the content in pieces, the finish reason,
    // then (with stream_options.include_usage) a chunk with the usage and no choices, and [DONE].
    rec.streamed = true;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const base = { id: `chatcmpl-fake-${rec.seq}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model ?? 'fake/model' };
    const event = (choices: unknown[], more: Record<string, unknown> = {}) => res.write(`data: ${JSON.stringify({ ...base, choices, ...more })}\n\n`);
    event([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    const pieces = slow?.chunks ?? (slow ? 10 : 4);
    const size = Math.max(1, Math.ceil(content.length / pieces));
    for (let i = 0; i < content.length; i += size) {
      if (slow && i > 0 && !(await wait(slow.chunkMs, res))) return;
      event([{ index: 0, delta: { content: content.slice(i, i + size) }, finish_reason: null }]);
    }
    if (slow && !(await wait(slow.chunkMs, res))) return;
    event([{ index: 0, delta: {}, finish_reason: 'stop' }]);
    if (body.stream_options?.include_usage && !noUsage) event([], { usage });
    res.end('data: [DONE]\n\n');
    rec.finishedAt = Date.now();
  }

  async function admin(method: string, path: string, text: string, res: ServerResponse): Promise<boolean> {
    if (path === '/_fault') {
      if (method === 'POST') {
        try {
          const parsed = JSON.parse(text) as Fault | Fault[];
          addFault(...(Array.isArray(parsed) ? parsed : [parsed]));
        } catch (err) {
          send(res, 400, errorBody((err as Error).message, 400));
          return true;
        }
      } else if (method === 'DELETE') faults = [];
      send(res, 200, { faults: faults.map((f) => ({ ...f.fault, times: f.left })) });
      return true;
    }
    if (path === '/_requests') {
      if (method === 'DELETE') requests.length = 0;
      send(res, 200, { requests });
      return true;
    }
    return false;
  }

  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      const method = req.method ?? 'GET';
      const text = await readBody(req);
      if (await admin(method, path, text, res)) return;
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // Recorded as the raw text.
      }
      const rec: RecordedRequest = { seq: requests.length + 1, at: Date.now(), method, path, headers: flatHeaders(req), body, aborted: false };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      if (method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions')) return chat(req, res, rec, text);
      if (method === 'GET' && (path === '/v1/models' || path === '/models')) {
        rec.status = 200;
        return send(res, 200, { object: 'list', data: [{ id: 'fake/model', object: 'model', created: 0, owned_by: 'fake-llm' }] });
      }
      rec.status = 404;
      send(res, 404, errorBody(`no route ${method} ${path}`, 404));
    })().catch((err: Error) => send(res, 500, errorBody(`fake-llm bug: ${err.message}`, 500)));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1';

  return {
    url: `http://${host}:${port}/v1`,
    port,
    requests,
    completions: () => requests.filter((r) => r.path.endsWith('/chat/completions')),
    addFault,
    setApiKey: (key) => void (apiKey = key),
    clearFaults: () => void (faults = []),
    setRandomFaults,
    pendingFaults: () => faults.map((f) => ({ ...f.fault, times: f.left })),
    reset: () => {
      faults = [];
      requests.length = 0;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
}
