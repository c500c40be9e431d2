import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isIP } from 'node:net';
import type { Config } from '../lib/config';
import { errorBody } from './errors';

// What a web page on another site can reach, with the user's browser as its agent.
//
// Host: a page on evil.example can make its own name resolve to 127.0.0.1 (DNS rebinding) and then
// talk to a loopback API as if same-origin; its requests still say `Host: evil.example`. So the API
// answers only the host names it is meant to be reached by (421 otherwise).
//
// Origin: browsers let any page open a WebSocket to any address (there is no CORS for it), and send
// the page's Origin. /ws accepts a browser's upgrade only from an allowed origin (403 otherwise); by
// default that is the API's own, the origin whose host is the Host asked for. Clients that send no
// Origin (the CLI, scripts, other servers) are not browsers acting for someone else, and pass.

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** A bind address that means every interface. */
const isWildcard = (host: string): boolean => ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0'].includes(host.toLowerCase());

/** The host name of a Host header (`[::1]:3000` → `::1`, `Example.COM.:80` → `example.com`), or null when malformed. */
export function hostName(header: string): string | null {
  const h = header.trim().toLowerCase();
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h) ?? /^([a-z0-9_.-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1]!.replace(/\.$/, '') : null;
}

/** The host names the API answers; null: any. */
export function allowedHosts(cfg: Pick<Config, 'API_HOST' | 'API_ALLOWED_HOSTS'>): Set<string> | null {
  const configured = cfg.API_ALLOWED_HOSTS;
  if (configured?.length) {
    if (configured.includes('*')) return null;
    return new Set(configured.map((h) => hostName(h) ?? h.toLowerCase()));
  }
  // Bound to every interface: which names reach it is the deployment's to say (API_ALLOWED_HOSTS); such an
  // API needs API_TOKEN anyway (api/auth.ts), which a rebinding page does not have.
  if (isWildcard(cfg.API_HOST)) return null;
  const own = hostName(cfg.API_HOST) ?? cfg.API_HOST.toLowerCase();
  return new Set([own, ...(isLoopbackHost(own) ? ['localhost', '127.0.0.1', '::1'] : [])]);
}

/** The origin as browsers write it (`http://host:port`, default ports left out), or null when it is not an http(s) origin. */
function normalOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

/** Whether a browser page at `origin` may use the API it reached through `host` (the Host header). */
export function originAllowed(origin: string, host: string | undefined, allowed: readonly string[] | undefined): boolean {
  const o = normalOrigin(origin);
  if (o === null) return false; // includes "null": sandboxed frames, file:// pages
  if (allowed?.length) return allowed.includes('*') || allowed.some((a) => normalOrigin(a) === o);
  // Same origin: the page was served by this API under the name it asked for (which passed the Host check).
  if (host === undefined) return false;
  const page = new URL(o);
  let asked: URL;
  try {
    asked = new URL(`${page.protocol}//${host.trim()}`);
  } catch {
    return false;
  }
  // Through URL both sides leave the scheme's default port out (`Host: x:80` is `http://x`).
  return page.host === asked.host;
}

function refuse(request: FastifyRequest, reply: FastifyReply, code: 403 | 421, message: string) {
  request.log.info({ host: request.headers.host, origin: request.headers.origin }, `rejected: ${message}`);
  // A refused WebSocket upgrade has no HTTP connection to return to (see api/auth.ts).
  if (request.headers.upgrade !== undefined) reply.raw.once('finish', () => request.raw.socket?.destroy());
  return reply.code(code).send(errorBody(code, message));
}

async function crossSitePlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  const hosts = allowedHosts(config);
  // preParsing, like auth (and before it): the rate limiter's onRequest hook comes first, and no body is read.
  app.addHook('preParsing', async (request, reply) => {
    const host = request.headers.host;
    // A request without Host (HTTP/1.0) does not come from a browser.
    if (hosts && host !== undefined) {
      const name = hostName(host);
      if (name === null || !hosts.has(name)) {
        return refuse(request, reply, 421, `this API does not answer for host "${host.slice(0, 100)}"; allowed: ${[...hosts].join(', ')} (API_ALLOWED_HOSTS)`);
      }
    }
    const origin = request.headers.origin;
    if (origin !== undefined && request.routeOptions.url === '/ws' && !originAllowed(origin, host, config.API_ALLOWED_ORIGINS)) {
      return refuse(request, reply, 403, `/ws does not accept connections from origin "${origin.slice(0, 100)}" (API_ALLOWED_ORIGINS)`);
    }
  });
}

/** Before auth: a page on another site learns nothing, not even whether a token is needed. */
export default fp(crossSitePlugin, { name: 'crossSite', dependencies: ['errors', '@fastify/rate-limit'] });
