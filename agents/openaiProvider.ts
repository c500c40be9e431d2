import OpenAI from 'openai';
import type { LlmSettings, Role } from '../common/types';
import { answerJsonSchema, MAX_TOKENS } from './answerSchema';
import { scrubDeep, type Exchange } from './exchange';
import { inBodyError, toProviderError } from './openaiErrors';
import { parseAnswer } from './parse';
import { tracedFetch } from './tracedFetch';
import { buildMessages, repairMessage, type ChatMessage } from './prompts';
import {
  estimateTokens,
  ProviderError,
  type AgentAnswer,
  type AgentRequest,
  type AgentTask,
  type CallContext,
  type Completion,
  type LlmProvider,
  type Usage,
} from './provider';

// OpenRouter, or any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio) through OPENROUTER_BASE_URL.
// One complete() is one attempt: maxRetries is 0 because Temporal owns retries (the activity maps the
// ProviderError kinds to retryable or not). An answer that breaks its schema gets exactly one repair
// request; a second bad answer is `invalid_output`, which governance counts as a procedure violation.

/** How the answer's shape is requested: a JSON schema, plain JSON mode, or instructions in the prompt only. */
export type StructuredOutput = 'json_schema' | 'json_object' | 'prompt';

export interface OpenAiProviderOptions {
  baseURL: string;
  /** Read at call time so a rotated key (e.g. from Vault) is picked up; never logged. */
  apiKey: () => Promise<string>;
  /** Per HTTP request; a repaired answer takes two, so keep the activity's timeout above twice this. */
  timeoutMs?: number;
  /** `auto` (default): json_schema for models known to support it, prompt instructions otherwise. */
  structuredOutput?: StructuredOutput | 'auto';
  /** The app identification OpenRouter asks for (HTTP-Referer, X-Title). */
  appUrl?: string;
  appTitle?: string;
  /** Ask for the cost in usage (`usage: {include: true}`); default only for openrouter.ai, others may reject it. */
  usageAccounting?: boolean;
  temperature?: number;
  /** Stream answers (default true): watchers see them forming; false for a server that cannot stream. */
  stream?: boolean;
}

export const DEFAULT_TIMEOUT_MS = 45_000;

// Models known to honour `response_format: json_schema` (strict). Anything else gets the format in the
// prompt: a request with an unsupported response_format is rejected outright by some servers.
const JSON_SCHEMA_MODELS = [/^(openai\/)?gpt-(4o|4\.1|5)/, /^(openai\/)?o[34]/, /^google\/gemini-(2|3)/];
// Reasoning models reject any temperature but the default.
const NO_TEMPERATURE_MODELS = [/^(openai\/)?(o\d|gpt-5)/];

export function structuredOutputFor(model: string, setting: StructuredOutput | 'auto' = 'auto'): StructuredOutput {
  if (setting !== 'auto') return setting;
  return JSON_SCHEMA_MODELS.some((re) => re.test(model)) ? 'json_schema' : 'prompt';
}

/** The model for a role: the pipeline's per-role `models` when it names one, else its `model`. */
export function modelFor(role: Role, settings: LlmSettings): string {
  return settings.models?.[role] || settings.model;
}

interface RawAnswer {
  text: string;
  cutOff: boolean;
  usage: Usage;
  model: string;
  /** For the transcript: reported once the answer is judged (see accept). */
  exchange: Exchange;
}

export class OpenAiProvider implements LlmProvider {
  readonly mode = 'openrouter' as const;
  private cached?: { key: string; client: OpenAI };

  constructor(private readonly opts: OpenAiProviderOptions) {}

  async complete(req: AgentRequest, settings: LlmSettings, ctx: CallContext): Promise<Completion> {
    if (ctx.signal?.aborted) throw abortReason(ctx.signal);
    const key = await this.readKey();
    const model = modelFor(req.role, settings);
    const messages = buildMessages(req);

    const first = await this.request(key, model, req.task, messages, ctx);
    let problem: string;
    try {
      return this.completion(this.accept(req.task, first, key, ctx), [first]);
    } catch (err) {
      if (!(err instanceof ProviderError) || err.kind !== 'invalid_output') throw err;
      problem = first.cutOff ? `it was cut off at the token limit (${err.message})` : err.message;
    }

    const second = await this.request(key, model, req.task, [...messages, { role: 'assistant', content: first.text }, repairMessage(req.task, problem)], ctx);
    try {
      return this.completion(this.accept(req.task, second, key, ctx), [first, second]);
    } catch (err) {
      if (!(err instanceof ProviderError) || err.kind !== 'invalid_output') throw err;
      throw new ProviderError(`${err.message} (still invalid after one repair request)`, 'invalid_output');
    }
  }

  /** The answer parsed; the exchange goes to the transcript either way, with why it was rejected. */
  private accept(task: AgentTask, raw: RawAnswer, key: string, ctx: CallContext): AgentAnswer {
    try {
      return parseAnswer(task, raw.text);
    } catch (err) {
      raw.exchange.rejected = (err as Error).message;
      throw err;
    } finally {
      report(ctx, raw.exchange, key);
    }
  }

  private async readKey(): Promise<string> {
    try {
      return await this.opts.apiKey();
    } catch (err) {
      // E.g. a VaultError: retryable when the secret store is down, not when access is denied.
      const retryable = (err as { retryable?: unknown }).retryable === true;
      throw new ProviderError(
        `the LLM API key is not available: ${(err as Error).message}`,
        retryable ? 'network' : 'not_configured',
        undefined,
        undefined,
        false,
      );
    }
  }

  private completion(answer: AgentAnswer, raws: RawAnswer[]): Completion {
    const usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    for (const r of raws) {
      usage.promptTokens += r.usage.promptTokens;
      usage.completionTokens += r.usage.completionTokens;
      usage.totalTokens += r.usage.totalTokens;
      if (r.usage.costUsd !== undefined) usage.costUsd = (usage.costUsd ?? 0) + r.usage.costUsd;
    }
    return { answer, usage, model: raws.at(-1)!.model, simulatedLatencyMs: 0 };
  }

  private client(key: string): OpenAI {
    if (this.cached?.key !== key) {
      const client = new OpenAI({
        apiKey: key,
        baseURL: this.opts.baseURL,
        maxRetries: 0,
        timeout: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        // Each request a span of the activity's trace (agents/tracedFetch.ts).
        fetch: tracedFetch,
        defaultHeaders: {
          'HTTP-Referer': this.opts.appUrl ?? 'https://github.com/agent-governance',
          'X-Title': this.opts.appTitle ?? 'agent-governance',
        },
      });
      this.cached = { key, client };
    }
    return this.cached.client;
  }

  private body(model: string, task: AgentTask, messages: ChatMessage[]): OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming {
    const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming & { usage?: { include: boolean } } = {
      model,
      messages,
      max_tokens: MAX_TOKENS[task],
    };
    const format = structuredOutputFor(model, this.opts.structuredOutput);
    if (format === 'json_schema') body.response_format = { type: 'json_schema', json_schema: answerJsonSchema(task) };
    if (format === 'json_object') body.response_format = { type: 'json_object' };
    if (!NO_TEMPERATURE_MODELS.some((re) => re.test(model))) body.temperature = this.opts.temperature ?? 0.2;
    if (this.opts.usageAccounting ?? new URL(this.opts.baseURL).hostname.endsWith('openrouter.ai')) body.usage = { include: true };
    return body;
  }

  /**
   * The answer streamed (`stream: true`), its text passed to ctx.onPartial as it arrives, gathered into
   * the completion a plain request returns, so what follows (checks, usage, validation) is the same.
   */
  private async streamed(
    key: string,
    body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming,
    options: { signal?: AbortSignal; timeout: number },
    ctx: CallContext,
  ): Promise<OpenAI.Chat.Completions.ChatCompletion> {
    let content = '';
    let refusal = '';
    let finish: OpenAI.Chat.Completions.ChatCompletion.Choice['finish_reason'] | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let model = '';
    let id = '';
    try {
      const stream = await this.client(key).chat.completions.create({ ...body, ...STREAM_PARAMS }, options);
      for await (const chunk of stream) {
        id ||= chunk.id;
        model ||= chunk.model;
        // The last chunk carries the usage (and OpenRouter's cost) and no choices.
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        if (delta) {
          content += delta;
          ctx.onPartial?.(delta);
        }
        if (choice?.delta?.refusal) refusal += choice.delta.refusal;
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
    } catch (err) {
      // An error event in the stream (OpenRouter's in-body error, once streaming): classified by its code.
      const event = err instanceof OpenAI.APIError && err.status === undefined ? inBodyError({ error: err.error }, [key]) : undefined;
      throw event ?? err;
    }
    return {
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: refusal || null }, finish_reason: finish ?? 'stop', logprobs: null }],
      ...(usage ? { usage } : {}),
    };
  }

  private async request(key: string, model: string, task: AgentTask, messages: ChatMessage[], ctx: CallContext): Promise<RawAnswer> {
    ctx.heartbeat?.();
    const body = this.body(model, task, messages);
    const streaming = this.opts.stream ?? true;
    const started = Date.now();
    const exchange = (answer: string | null, more: Partial<Exchange> = {}): Exchange => ({
      request: (streaming ? { ...body, ...STREAM_PARAMS } : body) as unknown as Record<string, unknown>,
      answer,
      startedAt: new Date(started).toISOString(),
      ms: Date.now() - started,
      ...more,
    });
    // A failed request is transcribed too, with what came back when something did.
    const failed = (err: unknown, answer: string | null = null): unknown => {
      report(ctx, exchange(answer, { error: err instanceof Error ? err.message : String(err) }), key);
      return err;
    };
    let response: OpenAI.Chat.Completions.ChatCompletion;
    try {
      const options = { signal: ctx.signal, timeout: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS };
      response = streaming ? await this.streamed(key, body, options, ctx) : await this.client(key).chat.completions.create(body, options);
    } catch (err) {
      // Cancelled by the caller (in an activity: Temporal's cancellation): let that reason through as it is.
      if (ctx.signal?.aborted) throw failed(abortReason(ctx.signal));
      throw failed(toProviderError(err, [key]));
    }
    const failure = inBodyError(response, [key]);
    if (failure) throw failed(failure, JSON.stringify(response));
    if (!Array.isArray(response?.choices))
      throw failed(
        new ProviderError('LLM provider answered without choices (is OPENROUTER_BASE_URL an OpenAI-compatible /v1 endpoint?)', 'server'),
        JSON.stringify(response),
      );
    const choice = response.choices[0];
    const text = choice?.message?.content ?? '';
    const refusal = choice?.message?.refusal;
    const reported = response.usage as (OpenAI.CompletionUsage & { cost?: unknown }) | undefined;
    // Zero or no usage is charged an estimate: a provider that reports none cannot bypass the token budget.
    const usage: Usage =
      reported && (reported.total_tokens ?? 0) > 0
        ? { promptTokens: reported.prompt_tokens ?? 0, completionTokens: reported.completion_tokens ?? 0, totalTokens: reported.total_tokens ?? 0 }
        : estimated(messages, text);
    if (typeof reported?.cost === 'number') usage.costUsd = reported.cost;
    const answered = response.model || model;
    return {
      // A refusal has no content; as text it gets the same one repair as any unusable answer.
      text: text || (refusal ? `(refused: ${refusal})` : ''),
      cutOff: choice?.finish_reason === 'length',
      usage,
      model: answered,
      exchange: exchange(choice?.message?.content ?? (refusal ? `(refused: ${refusal})` : null), {
        model: answered,
        usage,
        finishReason: choice?.finish_reason ?? null,
      }),
    };
  }
}

const STREAM_PARAMS = { stream: true, stream_options: { include_usage: true } } as const;

const abortReason = (signal: AbortSignal): unknown => signal.reason ?? new Error('LLM request aborted');

/** Hands an exchange to the transcript with the key and anything key-shaped scrubbed out. */
function report(ctx: CallContext, exchange: Exchange, key: string): void {
  ctx.onExchange?.(scrubDeep(exchange, [key]));
}

/** Providers that report no (or zero) usage still count against the token budget, roughly. */
function estimated(messages: ChatMessage[], text: string): Usage {
  const promptTokens = estimateTokens(messages.map((m) => m.content).join('\n'));
  const completionTokens = estimateTokens(text);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
