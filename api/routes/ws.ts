import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { WebSocket } from 'ws';
import { pipelineWorkflowId } from '../../common/ids';
import { boardKeys } from '../../lib/blackboard';
import { ALL_EVENTS_CHANNEL } from '../../lib/events';
import { partialChannel } from '../../lib/partials';
import { errorBody, HttpError } from '../errors';
import { operation } from '../docs';
import { ErrorReply, errorsFor, WsQuery } from '../schemas';
import { followEvents } from '../../lib/eventStream';
import type { LedgerReader } from '../../lib/ledger';

// GET /ws?pipeline_id=…&since=N: the stored events after N, then live ones, each exactly once and in
// order; a client that reconnects with the last seq it saw misses nothing and sees nothing twice.
// Without pipeline_id: every pipeline's live events (Redis channel ag:events). seq is per pipeline,
// so `since` is refused there; such a client resumes a pipeline by opening /ws for it with `since`.
// A pipeline's stream also carries `llm_partial` messages (lib/partials.ts), the LLM answers as they
// stream in: live only, without seq, never replayed; `partials=false` leaves them out.
//
// A slow client never holds up others: sends never wait, and a client whose unsent data passes
// maxBufferedBytes (or whose queue of waiting live events passes maxPending) is closed with code
// 4008 and the seq to resume from.

const inLedger = (ledger: LedgerReader, pipelineId: string): boolean => {
  try {
    return ledger.pipelineSettings(pipelineId) !== null;
  } catch {
    return false; // no ledger yet: Temporal decides
  }
};

export interface WsLimits {
  maxBufferedBytes: number;
  maxPending: number;
  heartbeatMs: number;
}
export const DEFAULT_WS_LIMITS: WsLimits = { maxBufferedBytes: 1024 * 1024, maxPending: 10_000, heartbeatMs: 30_000 };

/** Close codes a client sees: 4008 too slow (reconnect with `since`), 1011 a server-side failure, 1001 shutdown. */
export const WS_CLOSE = { slow: 4008, error: 1011, shutdown: 1001 } as const;

export const wsRoutes: FastifyPluginAsyncTypebox<{ limits: WsLimits }> = async (app, { limits }) => {
  const hub = app.eventHub;
  // Dead peers (a laptop closed mid-stream) are found by ping/pong and terminated.
  const alive = new WeakSet<WebSocket>();
  const heartbeat = setInterval(() => {
    for (const client of app.websocketServer.clients) {
      if (!alive.has(client)) {
        client.terminate();
        continue;
      }
      alive.delete(client);
      client.ping();
    }
  }, limits.heartbeatMs);
  heartbeat.unref();
  app.addHook('onClose', async () => clearInterval(heartbeat));

  app.route({
    method: 'GET',
    url: '/ws',
    schema: {
      ...operation('events', 'streamEvents', 'Stream pipeline events (WebSocket)'),
      description:
        'WebSocket. With pipeline_id: events after `since` (default 0), then live. Without: live events of every pipeline. Messages are events `{ type, pipeline_id, seq, ts, data }`; with pipeline_id also `llm_partial` messages (no seq: live LLM output, ignore them or pass partials=false). Closed with 4008 when the client falls too far behind: reconnect with `since` = the last seq received.',
      querystring: WsQuery,
      // OpenAPI cannot describe a WebSocket: the upgrade's 101 is its success, and `default` says that every
      // other answer (421 wrong Host, 429 rate limit, 500) is an error in the one shape.
      response: {
        101: { description: 'Switching Protocols: the WebSocket is open (subprotocol agent-governance)', type: 'null' },
        ...errorsFor(400, 401, 403, 404, 426, 503),
        default: ErrorReply,
      },
    },
    preHandler: async (request) => {
      const { pipeline_id: pipelineId, since } = request.query;
      if (since !== undefined && pipelineId === undefined) {
        throw new HttpError(400, 'since needs pipeline_id: seq counts per pipeline; without pipeline_id the stream is live only');
      }
      if (!request.ws) return; // the plain HTTP handler answers 426
      try {
        await hub.ensureReady();
      } catch (err) {
        throw new HttpError(503, `Redis is unavailable: ${(err as Error).message}`);
      }
      if (pipelineId === undefined) return;
      // Known: its events are stored, or Temporal knows the workflow (404 otherwise).
      const stored = await app.redis.exists(boardKeys(pipelineId).events).catch((err: Error) => {
        throw new HttpError(503, `Redis is unavailable: ${err.message}`);
      });
      // Or the ledger has it: Redis keys expire and Temporal forgets closed workflows; the replay reads the ledger.
      if (stored === 0 && !inLedger(app.ledger, pipelineId)) await app.temporal.workflow.getHandle(pipelineWorkflowId(pipelineId)).describe();
    },
    handler: async (_request, reply) => reply.code(426).header('upgrade', 'websocket').send(errorBody(426, 'GET /ws needs a WebSocket upgrade')),
    wsHandler: async (socket, request) => {
      const { pipeline_id: pipelineId, since = 0, partials = true } = request.query as { pipeline_id?: string; since?: number; partials?: boolean };
      const log = request.log.child({ pipelineId: pipelineId ?? '(all)' });
      const gone = new AbortController();
      app.metrics.wsClients.inc();
      alive.add(socket);
      socket.on('pong', () => alive.add(socket));
      socket.on('close', () => {
        app.metrics.wsClients.dec();
        gone.abort();
      });

      const drop = (reason: 'slow' | 'error', detail: string, resume?: number) => {
        if (gone.signal.aborted) return;
        app.metrics.wsDropped.inc({ reason });
        log.warn({ reason, detail, resume }, 'closing a /ws client');
        // A close reason is at most 123 bytes.
        const text = reason === 'slow' ? `too slow${resume !== undefined ? `; reconnect with since=${resume}` : ''}` : 'server error';
        socket.close(WS_CLOSE[reason], text.slice(0, 120));
        // The close frame waits behind the unsent data; a client that reads nothing is cut off.
        setTimeout(() => socket.terminate(), 1000).unref();
      };
      const sendText = (text: string): boolean => {
        if (socket.readyState !== WebSocket.OPEN) return true;
        if (socket.bufferedAmount > limits.maxBufferedBytes) return false;
        socket.send(text);
        return true;
      };

      try {
        if (pipelineId === undefined) {
          const unwatch = await hub.watch(ALL_EVENTS_CHANNEL, (message) => {
            if (!sendText(message)) drop('slow', 'send buffer full');
          });
          if (gone.signal.aborted) unwatch();
          else gone.signal.addEventListener('abort', unwatch, { once: true });
          return;
        }
        if (partials) {
          // Best effort: a client that is behind skips pieces of live output rather than being closed for them.
          const unwatch = await hub.watch(partialChannel(pipelineId), (message) => {
            if (socket.readyState === WebSocket.OPEN && socket.bufferedAmount <= limits.maxBufferedBytes / 2) socket.send(message);
          });
          if (gone.signal.aborted) unwatch();
          else gone.signal.addEventListener('abort', unwatch, { once: true });
        }
        await followEvents(hub, app.redis, pipelineId, {
          since,
          send: (e) => sendText(JSON.stringify(e)),
          fail: drop,
          signal: gone.signal,
          maxPending: limits.maxPending,
          ledger: app.ledger,
        });
      } catch (err) {
        drop('error', (err as Error).message);
      }
    },
  });
};
