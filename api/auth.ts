import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../lib/config';
import { isLoopbackHost } from './crossSite';
import { errorBody } from './errors';

// Bearer-token auth for every route but the public ones, when API_TOKEN is set.
//
// Public: /healthz (probes), the dashboard's static files and /docs (a browser must load them before it
// can present a token; they hold no pipeline data). Everything that reads or changes pipelines,
// /metrics and /ws need the token.
//
// Browsers cannot set headers on a WebSocket, so /ws also takes the token as a subprotocol:
// `new WebSocket(url, ['agent-governance', 'bearer.' + base64url(token)])`. The server answers with
// `agent-governance` and never echoes the token; a subprotocol stays out of URLs and access logs,
// unlike a `?token=` query.

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a token even when API_TOKEN is set. */
    public?: boolean;
  }
}

export const WS_PROTOCOL = 'agent-governance';
const WS_TOKEN_PREFIX = 'bearer.';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison: both sides hashed first, so lengths are always equal. */
export function tokenMatches(provided: string | undefined, expected: string): boolean {
  if (provided === undefined) return false;
  return timingSafeEqual(digest(provided), digest(expected));
}

function offeredProtocols(request: FastifyRequest): string[] {
  const header = request.headers['sec-websocket-protocol'];
  return typeof header === 'string' ? header.split(',').map((p) => p.trim()) : [];
}

/** The token a request carries: `Authorization: Bearer …`, or for a WebSocket upgrade the `bearer.<base64url>` subprotocol. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  if ((request.headers.upgrade ?? '').toLowerCase() === 'websocket') {
    const p = offeredProtocols(request).find((x) => x.startsWith(WS_TOKEN_PREFIX));
    if (p) return Buffer.from(p.slice(WS_TOKEN_PREFIX.length), 'base64url').toString('utf8');
  }
  return undefined;
}

/** Picks the subprotocol the server answers with: ours when offered, never a token. */
export function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(WS_PROTOCOL)) return WS_PROTOCOL;
  for (const p of protocols) if (!p.startsWith(WS_TOKEN_PREFIX)) return p;
  return false;
}

const isPublic = (request: FastifyRequest): boolean => {
  const route = request.routeOptions.url;
  if (route === undefined) return false; // unknown routes: 401 first, so they reveal nothing either
  return request.routeOptions.config?.public === true || route === '/docs' || route.startsWith('/docs/');
};

async function authPlugin(app: FastifyInstance, { token }: { token?: string }): Promise<void> {
  if (!token) return;
  // preParsing, not onRequest: the rate limiter's per-route onRequest hook runs first, so a flood of
  // unauthenticated requests is limited too; the body is still not read before the token is checked.
  app.addHook('preParsing', async (request, reply) => {
    if (isPublic(request)) return;
    if (tokenMatches(presentedToken(request), token)) return;
    // The token itself is never logged: only that it was missing or wrong.
    request.log.info({ hasAuthorization: request.headers.authorization !== undefined }, 'rejected: missing or bad bearer token');
    // A refused WebSocket upgrade has no HTTP connection to go back to: close its socket once the 401 is
    // written, or the server's close would wait for it.
    if (request.headers.upgrade !== undefined) reply.raw.once('finish', () => request.raw.socket?.destroy());
    return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody(401, 'missing or bad bearer token'));
  });
}

/**
 * Why the API must not start with this configuration, or undefined. Without API_TOKEN it serves every
 * pipeline to whoever reaches it, so only on a loopback address, or when API_ALLOW_UNAUTHENTICATED says
 * a proxy in front authenticates.
 */
export function exposureProblem(cfg: Pick<Config, 'API_HOST' | 'API_TOKEN' | 'API_ALLOW_UNAUTHENTICATED'>): string | undefined {
  if (cfg.API_TOKEN || cfg.API_ALLOW_UNAUTHENTICATED || isLoopbackHost(cfg.API_HOST)) return undefined;
  return (
    `API_HOST=${cfg.API_HOST} is not a loopback address and API_TOKEN is not set: anyone who reaches it could read and steer every pipeline. ` +
    'Set API_TOKEN (at least 16 characters), or bind API_HOST=127.0.0.1, or, only behind a proxy that authenticates, set API_ALLOW_UNAUTHENTICATED=true.'
  );
}

/** Needs the rate limiter in front of it, so that a flood of bad tokens is limited as well. */
export default fp(authPlugin, { name: 'auth', dependencies: ['@fastify/rate-limit'] });
