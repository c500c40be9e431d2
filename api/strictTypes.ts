import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

// Types are checked, never guessed. The server's validator does not coerce (api/server.ts): a JSON body
// says what it means, and `{"objective": 42}` is a 400, not the string "42". A query string or a path
// parameter is text by nature, so here, before validation, a value the schema wants as a number or a
// boolean is converted when it is written as one: `since=5` is 5, while `since=5x`, `since=0x10`,
// `since= 5`, `since=` stay text and fail validation (Ajv's own coercion would take several of them).

const INTEGER = /^-?(0|[1-9]\d{0,15})$/;
const NUMBER = /^-?(0|[1-9]\d{0,15})(\.\d{1,15})?$/;

type PropertySchema = { type?: unknown };
type ObjectSchema = { properties?: Record<string, PropertySchema> };

/** The value as the schema's type, when written as one; otherwise the value itself (and validation says what is wrong). */
export function convertText(value: unknown, schema: PropertySchema | undefined): unknown {
  if (typeof value !== 'string' || !schema) return value;
  switch (schema.type) {
    case 'integer':
      return INTEGER.test(value) ? Number(value) : value;
    case 'number':
      return NUMBER.test(value) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    default:
      return value;
  }
}

function convertAll(target: unknown, schema: ObjectSchema | undefined): void {
  if (!schema?.properties || typeof target !== 'object' || target === null) return;
  const values = target as Record<string, unknown>;
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (Object.hasOwn(values, key)) values[key] = convertText(values[key], sub);
  }
}

async function strictTypesPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const schema = request.routeOptions.schema as { querystring?: ObjectSchema; params?: ObjectSchema } | undefined;
    convertAll(request.query, schema?.querystring);
    convertAll(request.params, schema?.params);
  });
}

/** Needs the server built with `coerceTypes: false` (api/server.ts), or Ajv would coerce behind it. */
export default fp(strictTypesPlugin, { name: 'strictTypes' });
