import { parseArgs } from 'node:util';
import { startFakeLlm } from '../devstack/fakeLlm';

// `npm run fake-llm [-- --port 8089 --host 127.0.0.1 --api-key k]`: the test suite's fake
// OpenAI-compatible server on its own, to try the openrouter mode offline. Port also from FAKE_LLM_PORT.
// Faults: curl -XPOST <host:port>/_fault -d '{"kind":"status","status":429,"retryAfter":2}'
// Requests seen: curl <host:port>/_requests

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.FAKE_LLM_PORT ?? '8089' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`fake-llm: --port must be a port number (got "${values.port}")`);
  process.exit(78);
}

startFakeLlm({ port, host: values.host, apiKey: values['api-key'] }).then(
  (fake) => {
    console.log(`fake-llm listening on ${fake.url}`);
    console.log(`try: LLM_MODE=openrouter OPENROUTER_BASE_URL=${fake.url} OPENROUTER_API_KEY=${values['api-key'] ?? 'any-key'} npm run worker`);
    const stop = () => void fake.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
  (err: Error) => {
    console.error(`fake-llm: cannot listen on ${values.host}:${port}: ${err.message}`);
    process.exit(1);
  },
);
