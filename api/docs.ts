import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { readFileSync } from 'node:fs';

// OpenAPI at /docs (UI) and /docs/json, built from the routes' TypeBox schemas. Swagger UI is served
// from the package's own files; the content security policy keeps the page from loading anything
// from another site.
// The document is for tools too: Redocly's recommended rules pass (tests/unit/openapi.test.ts), every
// operation has a camelCase operationId (what client generators name their methods after) and a tag
// (what they group methods by).

/** The package's name, version and license: one source for them. */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; license: string };

/** The tags operations are grouped by, in this order; each route names one. */
export const TAGS = {
  pipelines: "Start and read pipelines: the workflow's queries and Temporal visibility",
  control: 'Steer a running pipeline: updates that its workflow validates',
  ledger: 'The audit record in the SQLite ledger: entries, checkpoints, LLM transcripts',
  events: 'Live events over WebSocket',
  operations: 'Health, metrics and the dashboard page',
} as const;
export type Tag = keyof typeof TAGS;

/** What a route's schema says of it in the document: its tag, its operationId (camelCase) and a one-line summary. */
export const operation = (tag: Tag, operationId: string, summary: string) => ({ tags: [tag], operationId, summary });

const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'";

async function docsPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'agent-governance API',
        description:
          'Governed multi-agent pipelines on Temporal. Errors are `{ statusCode, error, message }`. When API_TOKEN is set, every route but /healthz, the dashboard and these docs needs `Authorization: Bearer <token>`; /ws also takes it as the subprotocol `bearer.<base64url(token)>` next to `agent-governance`.',
        version: pkg.version,
        // package.json's license is an SPDX id; UNLICENSED (npm's word for "no license granted", the case
        // today) is none, so it is said with SPDX's form for a license not on its list.
        license: { name: pkg.license, identifier: pkg.license === 'UNLICENSED' ? 'LicenseRef-UNLICENSED' : pkg.license },
      },
      // Relative: the API that serves this document. A client generated from a saved copy takes its base URL as a setting.
      servers: [{ url: '/', description: 'the API that serves this document' }],
      tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { validatorUrl: null, deepLinking: false },
    // Swagger UI's initializer is a same-origin script file, so a strict policy without inline scripts works.
    staticCSP: CSP,
    transformSpecificationClone: true,
  });
}

/** Swagger lists the routes added after it: plugins with routes depend on 'docs'. */
export default fp(docsPlugin, { name: 'docs' });
