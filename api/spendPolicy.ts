import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { allowedModels, type Config } from '../lib/config';
import { HttpError } from './errors';

// What a request may ask to spend, checked for every route whose body can say it (spawn, continue):
// only models of the allow-list (LLM_MODELS), since any model name would otherwise reach the provider
// at its price; and `latency_ms`, the simulator's delay, only in local mode, where it holds a worker's
// slot for up to ten minutes per call and means nothing to a real provider.
//
// The API does not know the worker's mode for sure: it goes by the request's `mode`, else by its own
// configuration (LLM_MODE, or openrouter when it holds a key). Where only the worker holds the key
// (docker-compose), a request without `mode` passes `latency_ms` on, and an openrouter worker ignores it.

type SpendFields = { model?: unknown; models?: unknown; mode?: unknown; latency_ms?: unknown };

export function spendProblem(body: SpendFields, cfg: Pick<Config, 'LLM_MODELS' | 'OPENROUTER_MODEL' | 'llmMode'>): string | undefined {
  const allowed = allowedModels(cfg);
  const named: [string, unknown][] = [['model', body.model]];
  if (typeof body.models === 'object' && body.models !== null) {
    for (const [role, m] of Object.entries(body.models)) named.push([`models.${role}`, m]);
  }
  for (const [field, m] of named) {
    if (typeof m === 'string' && !allowed.includes(m))
      return `${field} "${m.slice(0, 200)}" is not an allowed model; allowed: ${allowed.join(', ')} (LLM_MODELS)`;
  }
  if (body.latency_ms !== undefined) {
    const mode = typeof body.mode === 'string' ? body.mode : cfg.llmMode;
    if (mode !== 'local') return `latency_ms is for the local simulator only; this pipeline would run in ${mode} mode`;
  }
  return undefined;
}

async function spendPolicyPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  // preHandler: after validation, so the fields have their types.
  app.addHook('preHandler', async (request: FastifyRequest) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
    const problem = spendProblem(body as SpendFields, config);
    if (problem) throw new HttpError(400, problem);
  });
}

export default fp(spendPolicyPlugin, { name: 'spendPolicy', dependencies: ['errors'] });
