import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { operation } from '../docs';
import { errorsFor } from '../schemas';

// The dashboard: one static page (plain HTML and JS, no build step) at `/`, its script and style under
// /dashboard/. It holds no data, so it is served without a token; it asks for one when API_TOKEN is
// set and sends it with every call. The Temporal Web UI address is written into the page once, at
// start. The content security policy keeps the page to this origin: nothing from another site.

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'public');
const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const dashboardRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const index = readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8')
    .replace('%TEMPORAL_UI_URL%', escapeAttr(app.cfg.TEMPORAL_UI_URL.replace(/\/+$/, '')))
    .replace('%TEMPORAL_NAMESPACE%', escapeAttr(app.cfg.TEMPORAL_NAMESPACE));

  app.get(
    '/',
    {
      config: { public: true },
      schema: {
        ...operation('operations', 'getDashboard', 'The dashboard page'),
        description: 'the dashboard page (public: it holds no data)',
        security: [],
        produces: ['text/html'],
        // 421: a Host name the API does not answer for (api/crossSite.ts); 429: the rate limit.
        response: { 200: Type.String(), ...errorsFor(421, 429) },
      },
    },
    async (_request, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('cache-control', 'no-cache').send(index),
  );

  // @fastify/static's routes take no config of ours, so they are marked public as they are added.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/dashboard/')) route.config = { ...route.config, public: true };
  });
  await app.register(fastifyStatic, {
    root: join(PUBLIC_DIR, 'dashboard'),
    prefix: '/dashboard/',
    // One route per file, found at start: no catch-all route, so unknown paths stay the API's 404.
    wildcard: false,
    decorateReply: false,
    cacheControl: true,
    maxAge: 0,
    schemaHide: true,
    setHeaders: (res) => void res.header('content-security-policy', CSP),
  });
};
