import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../devstack/processes';
import { parseConfig } from '../../lib/config';

// docker-compose.temporal.yml as the compose tool reads it: Debian's docker-compose (1.29, `apt-get
// install docker-compose`) validates and resolves a file without a Docker engine. Checked here: the
// services, a health check on every long-running one, ports on 127.0.0.1 only, named volumes for the
// data, each secret on the services that need it and no other, and the monitoring wiring (Prometheus
// targets, the Grafana data source, the OTLP endpoint) against the services and ports of the file.

const COMPOSE_FILE = 'docker-compose.temporal.yml';
const DRAGONFLY_FILE = 'docker-compose.dragonfly.yml';
const run = promisify(execFile);

/** Marks each secret so that the test can find where it went, in any field of any service. */
const SECRETS = {
  API_TOKEN: 'api-token-4f1c9e2b7a6d',
  OPENROUTER_API_KEY: 'sk-or-openrouter-key-8c2d',
  VAULT_TOKEN: 'hvs.vault-token-5e7a',
  GRAFANA_ADMIN_PASSWORD: 'grafana-password-3b9f',
} as const;
/** Who may hold each secret: the worker calls the provider; Prometheus scrapes the API's /metrics with its token. */
const SECRET_HOLDERS: Record<keyof typeof SECRETS, string[]> = {
  API_TOKEN: ['api', 'prometheus'],
  OPENROUTER_API_KEY: ['worker'],
  VAULT_TOKEN: ['worker'],
  GRAFANA_ADMIN_PASSWORD: ['grafana'],
};

type Port = string | { host_ip?: string; published?: number | string; target: number | string };
interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: Port[];
  expose?: (string | number)[];
  volumes?: (string | { type: string; source: string; target: string })[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** The environment docker-compose sees: none of the caller's own values, so only the file speaks. */
function composeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
  return env;
}

async function composeConfig(files: string[], env: Record<string, string>): Promise<Compose> {
  const args = [...files.flatMap((f) => ['-f', f]), 'config'];
  const { stdout } = await run('docker-compose', args, { cwd: REPO_ROOT, env: composeEnv(env), maxBuffer: 8 * 1024 * 1024 });
  // docker-compose 1.29 prints YAML (it has no --format json); v2 would take `config --format json`.
  return parse(stdout) as Compose;
}

const hasDockerCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

/** "127.0.0.1:3000:3000/tcp" or { host_ip, published, target }: the host address and the two ports. */
function portOf(p: Port): { hostIp: string | undefined; published: number | undefined; target: number } {
  if (typeof p === 'object') return { hostIp: p.host_ip, published: p.published === undefined ? undefined : Number(p.published), target: Number(p.target) };
  const parts = p.replace(/\/(tcp|udp)$/, '').split(':');
  if (parts.length === 3) return { hostIp: parts[0], published: Number(parts[1]), target: Number(parts[2]) };
  if (parts.length === 2) return { hostIp: undefined, published: Number(parts[0]), target: Number(parts[1]) };
  return { hostIp: undefined, published: undefined, target: Number(parts[0]) };
}

/** "name:/path:rw" or { type, source, target }: a named volume's name, or null for a bind mount. */
function volumeAt(s: Service, containerPath: string, c: Compose): string | null | undefined {
  for (const v of s.volumes ?? []) {
    const [source, target] = typeof v === 'string' ? v.split(':') : [v.source, v.target];
    if (target !== containerPath) continue;
    return source && !source.startsWith('/') && !source.startsWith('.') && c.volumes && source in c.volumes ? source : null;
  }
  return undefined;
}

/** The ports a service serves to the compose network: what it publishes and what it exposes. */
const servedPorts = (s: Service): number[] => [...(s.ports ?? []).map((p) => portOf(p).target), ...(s.expose ?? []).map(Number)];

const readYaml = <T>(path: string): T => parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as T;

describe('docker-compose.temporal.yml', () => {
  let c: Compose;
  before(async () => {
    // Not skipped when missing: Debian has it (.ci/run installs it), and an unchecked file is what this test is against.
    assert.ok(hasDockerCompose, 'docker-compose is not installed: apt-get install -y docker-compose (as .ci/run does)');
    c = await composeConfig([COMPOSE_FILE], SECRETS);
  });

  test('without API_TOKEN the file is refused, naming the variable', async () => {
    const env = { ...SECRETS } as Record<string, string>;
    delete env.API_TOKEN;
    await assert.rejects(composeConfig([COMPOSE_FILE], env), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? '', /API_TOKEN/);
      return true;
    });
  });

  test('the services: Temporal with its database, schema, namespace and UI; Redis, worker, API; Prometheus, Grafana, the OTel collector', () => {
    assert.deepEqual(Object.keys(c.services).sort(), [
      'api',
      'grafana',
      'otel-collector',
      'otel-healthcheck-tools',
      'postgresql',
      'prometheus',
      'redis',
      'temporal',
      'temporal-namespace',
      'temporal-schema',
      'temporal-ui',
      'worker',
    ]);
  });

  test('every long-running service has a health check; one-shot services are those others wait to complete', () => {
    const oneShot = new Set(
      Object.values(c.services).flatMap((s) =>
        Array.isArray(s.depends_on)
          ? []
          : Object.entries(s.depends_on ?? {})
              .filter(([, d]) => d.condition === 'service_completed_successfully')
              .map(([n]) => n),
      ),
    );
    assert.deepEqual([...oneShot].sort(), ['otel-healthcheck-tools', 'temporal-namespace', 'temporal-schema']);
    for (const [name, s] of Object.entries(c.services)) {
      if (oneShot.has(name)) continue;
      const t = s.healthcheck?.test;
      assert.ok(t && !s.healthcheck?.disable && !(Array.isArray(t) && t[0] === 'NONE'), `${name} has a health check`);
    }
  });

  test('every image has a pinned version tag', () => {
    for (const [name, s] of Object.entries(c.services)) {
      if (s.build) continue;
      assert.match(s.image ?? '', /:v?\d+\.\d+(\.\d+)?[\w.-]*$/, `${name}: ${s.image} names a version`);
    }
  });

  test('published ports are bound to 127.0.0.1 only', () => {
    const published = Object.entries(c.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, ...portOf(p) })));
    assert.ok(published.length >= 6, 'Temporal, the UI, the API, Prometheus, Grafana and OTLP are published');
    for (const p of published) assert.equal(p.hostIp, '127.0.0.1', `${p.name}: port ${p.published} is on this machine only`);
  });

  test('named volumes hold the data: Postgres, Redis, the ledger, Prometheus, Grafana', () => {
    const expected: [string, string, string][] = [
      ['postgresql', '/var/lib/postgresql/data', 'postgres'],
      ['redis', '/data', 'redis'],
      ['worker', '/data', 'ledger'],
      ['api', '/data', 'ledger'],
      ['prometheus', '/prometheus', 'prometheus'],
      ['grafana', '/var/lib/grafana', 'grafana'],
    ];
    for (const [service, path, volume] of expected)
      assert.equal(volumeAt(c.services[service]!, path, c), volume, `${service}:${path} is the named volume ${volume}`);
  });

  test('each secret reaches only the services that need it: the LLM key and the Vault token the worker alone', () => {
    for (const [variable, value] of Object.entries(SECRETS)) {
      const holders = Object.entries(c.services)
        .filter(([, s]) => JSON.stringify(s).includes(value))
        .map(([n]) => n)
        .sort();
      assert.deepEqual(holders, SECRET_HOLDERS[variable as keyof typeof SECRETS], `${variable} is given to`);
    }
  });

  test("the worker and the API take their settings as lib/config.ts parses them, and send traces to the collector's OTLP/HTTP port", () => {
    const collector = c.services['otel-collector']!;
    for (const name of ['worker', 'api']) {
      const env = Object.fromEntries(Object.entries(c.services[name]!.environment ?? {}).map(([k, v]) => [k, v ?? '']));
      assert.doesNotThrow(() => parseConfig(env), `${name}'s environment is a valid configuration`);
      const endpoint = new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
      assert.equal(endpoint.hostname, 'otel-collector', `${name} exports to the collector`);
      assert.ok(servedPorts(collector).includes(Number(endpoint.port)), `the collector serves ${endpoint.port}`);
    }
    const otel = readYaml<{
      receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
      service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
    }>('monitoring/otel-collector.yml');
    assert.equal(otel.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318');
    assert.equal(otel.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317');
    assert.deepEqual(otel.service.pipelines.traces.receivers, ['otlp']);
  });

  test("Prometheus's scrape targets are compose services and ports they serve: the worker's two metrics ports and the API", () => {
    const prom = readYaml<{ rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] }>(
      'monitoring/prometheus/prometheus.yml',
    );
    const targets = prom.scrape_configs.flatMap((j) => j.static_configs.flatMap((s) => s.targets.map((t) => ({ job: j.job_name, target: t }))));
    assert.deepEqual(
      targets.map((t) => `${t.job} ${t.target}`),
      ['worker worker:9464', 'temporal-sdk worker:9465', 'api api:3000'],
    );
    for (const { job, target } of targets) {
      const [host, port] = target.split(':');
      const s = c.services[host!];
      assert.ok(s, `${job}: ${host} is a compose service`);
      assert.ok(servedPorts(s).includes(Number(port)), `${job}: ${host} serves ${port}`);
    }
    // The API listens where Prometheus looks, and answers the name it is reached by (api/crossSite.ts).
    const apiEnv = Object.fromEntries(Object.entries(c.services.api!.environment ?? {}).map(([k, v]) => [k, v ?? '']));
    const apiCfg = parseConfig(apiEnv);
    assert.equal(apiCfg.API_PORT, 3000);
    assert.ok(apiCfg.API_ALLOWED_HOSTS?.includes('api'), 'the API answers Host: api');
    // The rule file and the mounts Prometheus reads them from.
    const mounts = (c.services.prometheus!.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    for (const file of ['prometheus.yml', ...prom.rule_files]) {
      assert.ok(
        mounts.some((m) => m.endsWith(`/monitoring/prometheus/${file}:/etc/prometheus/${file}:ro`)),
        `${file} is mounted at /etc/prometheus/${file}`,
      );
    }
  });

  test(
    'promtool accepts prometheus.yml and the rules it names',
    { skip: !hasPromtool && 'promtool is not installed (apt-get install -y prometheus)' },
    async () => {
      const dir = join(REPO_ROOT, 'monitoring', 'prometheus');
      // --syntax-only: the API token file exists only inside the container (written at its start).
      await run('promtool', ['check', 'config', '--syntax-only', 'prometheus.yml'], { cwd: dir });
      const prom = readYaml<{ rule_files: string[] }>('monitoring/prometheus/prometheus.yml');
      await run('promtool', ['check', 'rules', ...prom.rule_files], { cwd: dir });
    },
  );

  test('Grafana is provisioned with the Prometheus service as its data source and the dashboards of monitoring/grafana/', () => {
    const ds = readYaml<{ datasources: { type: string; url: string; uid: string }[] }>('monitoring/grafana/provisioning/datasources/prometheus.yml');
    const url = new URL(ds.datasources[0]!.url);
    assert.equal(ds.datasources[0]!.type, 'prometheus');
    assert.ok(servedPorts(c.services[url.hostname]!).includes(Number(url.port)), `${url.host} is the Prometheus service`);
    const providers = readYaml<{ providers: { options: { path: string } }[] }>('monitoring/grafana/provisioning/dashboards/agent-governance.yml');
    const mounts = (c.services.grafana!.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    assert.ok(
      mounts.some((m) => m.endsWith(`/monitoring/grafana:${providers.providers[0]!.options.path}:ro`)),
      'the dashboards folder is mounted where the provider reads',
    );
    assert.ok(mounts.some((m) => m.endsWith('/monitoring/grafana/provisioning:/etc/grafana/provisioning:ro')));
  });

  test('with docker-compose.dragonfly.yml the store is DragonflyDB under the same name, health check and volume', async () => {
    const d = await composeConfig([COMPOSE_FILE, DRAGONFLY_FILE], SECRETS);
    const store = d.services.redis!;
    assert.match(store.image ?? '', /^docker\.dragonflydb\.io\/dragonflydb\/dragonfly:v\d+\.\d+\.\d+$/);
    assert.ok(store.healthcheck?.test, 'still health-checked (redis-cli is in the Dragonfly image)');
    assert.equal(volumeAt(store, '/data', d), 'redis');
    assert.equal(d.services.worker!.environment?.REDIS_URL, 'redis://redis:6379', 'the apps are unchanged');
  });
});
