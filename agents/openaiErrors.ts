import OpenAI from 'openai';
import { clip } from '../common/text';
import { kindFromStatus, ProviderError } from './provider';

// What the openai client throws → a ProviderError whose kind decides the retry (agents/provider.ts).
// Messages carry the provider's own explanation, with anything that looks like a key removed: some
// providers echo the key they were given in a 401 (OpenAI: "Incorrect API key provided: sk-...").

/** A Retry-After is honoured up to this; a longer one (a daily quota) is not worth sleeping through. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_RETRY_AFTER_MS);
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.min(Math.max(0, seconds * 1000), MAX_RETRY_AFTER_MS);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(0, date - Date.now()), MAX_RETRY_AFTER_MS);
}

const KEY_LIKE = /\b(?:sk|pk|rk)-[A-Za-z0-9_*.-]{6,}|Bearer\s+\S+/g;

/** The text with the given secrets and anything key-shaped replaced. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(KEY_LIKE, '[redacted]');
}

export function toProviderError(err: unknown, secrets: readonly string[]): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError) return new ProviderError('LLM request timed out', 'timeout');
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return new ProviderError(scrub(`LLM provider unreachable${cause}`, secrets), 'network');
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status;
    const message = scrub(clip(err.message, 300), secrets);
    return new ProviderError(`LLM provider answered ${status ?? 'no status'}: ${message}`, kindFromStatus(status), status, retryAfterMs(err.headers));
  }
  // fetch's own failures (DNS, reset) when they escape the client's wrapping.
  if (err instanceof TypeError) return new ProviderError(scrub(`LLM provider unreachable: ${err.message}`, secrets), 'network');
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError(scrub(`LLM call failed: ${message}`, secrets), 'server');
}

/**
 * OpenRouter answers some upstream failures with HTTP 200 and `{ error: { code, message } }` instead of
 * choices; `code` is then an HTTP status.
 */
export function inBodyError(body: unknown, secrets: readonly string[]): ProviderError | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!error || typeof error !== 'object') return undefined;
  const status = typeof error.code === 'number' ? error.code : undefined;
  const message = scrub(clip(String(error.message ?? 'unknown error'), 300), secrets);
  return new ProviderError(`LLM provider reported an error${status ? ` ${status}` : ''}: ${message}`, status ? kindFromStatus(status) : 'server', status);
}
