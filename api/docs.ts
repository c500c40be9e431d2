import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

// OpenAPI at /docs (UI) and /docs/json, built from the routes' TypeBox schemas. Swagger UI is served
// from the package's own files; the content security policy keeps the page from loading anything
// from another site.

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
        version: '0.1.0',
      },
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
