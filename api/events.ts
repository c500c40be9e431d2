import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { EventHub } from '../lib/eventHub';

// The process's one Redis subscriber for /ws (lib/eventHub.ts), closed with the server.

declare module 'fastify' {
  interface FastifyInstance {
    eventHub: EventHub;
  }
}

async function eventsPlugin(app: FastifyInstance): Promise<void> {
  const hub = new EventHub(app.redis);
  app.decorate('eventHub', hub);
  app.addHook('onClose', async () => hub.close());
}

export default fp(eventsPlugin, { name: 'events', decorators: { fastify: ['redis'] } });
