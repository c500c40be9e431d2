import OpenAI from 'openai';
import type { LlmSettings } from '../common/types';
import { parseAnswer } from './parse';
import { buildMessages } from './prompts';
import { kindFromStatus, ProviderError, type AgentRequest, type CallContext, type Completion, type LlmProvider } from './provider';

// OpenRouter, or any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio) through OPENROUTER_BASE_URL.
// maxRetries is 0: Temporal owns retries, with the classification below.

export interface OpenAiProviderOptions {
  baseURL: string;
  /** Read at call time so a rotated key (e.g. from Vault) is picked up; never logged. */
  apiKey: () => Promise<string>;
  timeoutMs?: number;
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export class OpenAiProvider implements LlmProvider {
  readonly mode = 'openrouter' as const;

  constructor(private readonly opts: OpenAiProviderOptions) {}

  async complete(req: AgentRequest, settings: LlmSettings, ctx: CallContext): Promise<Completion> {
    const client = new OpenAI({
      apiKey: await this.opts.apiKey(),
      baseURL: this.opts.baseURL,
      maxRetries: 0,
      timeout: this.opts.timeoutMs ?? 60_000,
      defaultHeaders: { 'HTTP-Referer': 'https://github.com/agent-governance', 'X-Title': 'agent-governance' },
    });
    let response: OpenAI.Chat.Completions.ChatCompletion;
    try {
      response = await client.chat.completions.create(
        { model: settings.model, messages: buildMessages(req), response_format: { type: 'json_object' }, temperature: 0.2 },
        { signal: ctx.signal },
      );
    } catch (err) {
      if (err instanceof OpenAI.APIConnectionTimeoutError) throw new ProviderError('LLM request timed out', 'timeout');
      if (err instanceof OpenAI.APIError) {
        // The provider's message, never the request (which holds the key in its headers).
        throw new ProviderError(`LLM provider answered ${err.status ?? 'no status'}: ${err.message}`, kindFromStatus(err.status), err.status, retryAfterMs(err.headers as Headers | undefined));
      }
      throw err;
    }
    const text = response.choices[0]?.message?.content ?? '';
    const usage = response.usage;
    return {
      answer: parseAnswer(req.task, text),
      usage: { promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0, totalTokens: usage?.total_tokens ?? 0 },
      model: response.model ?? settings.model,
      simulatedLatencyMs: 0,
    };
  }
}
