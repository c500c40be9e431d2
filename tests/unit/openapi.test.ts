import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';
import { REPO_ROOT } from '../../devstack/processes';
import { buildServer } from '../../api/server';
import { parseConfig } from '../../lib/config';
import { deadDependencies } from '../helpers/api';

// The OpenAPI document as tools see it: what /docs/json serves (app.swagger() of the real server; no
// dependency is reached to build it), written to a file and linted by the Redocly CLI with its
// recommended rules. Client generators name their methods after the operationIds checked here.

const REDOCLY = join(REPO_ROOT, 'node_modules', '.bin', 'redocly');
const run = promisify(execFile);

type Operation = { operationId?: string; summary?: string; tags?: string[] };
type Doc = { paths: Record<string, Record<string, Operation>>; tags?: { name: string }[]; servers?: unknown[] };

let doc: Doc;
let dir: string;

before(async () => {
  const deps = await deadDependencies();
  const app = await buildServer({ ...deps, config: parseConfig({}), logger: pino({ level: 'silent' }) });
  try {
    await app.ready();
    doc = app.swagger() as unknown as Doc;
  } finally {
    await app.close();
    await deps.close();
  }
  dir = mkdtempSync(join(tmpdir(), 'ag-openapi-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface LintResult {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
}

/** `redocly lint --extends recommended` on the document; its JSON report. */
async function lint(document: unknown, name: string): Promise<LintResult> {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(document, null, 2));
  // Exit code 1 when there are errors: the report on stdout is what is asserted, either way.
  const out = await run(REDOCLY, ['lint', '--extends', 'recommended', '--format', 'json', file], {
    cwd: dir, // no redocly.yaml of the repository: the rules named on the command line only
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const json = out.stdout.slice(out.stdout.indexOf('{'));
  return JSON.parse(json) as LintResult;
}

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })));

describe('OpenAPI document', () => {
  test("Redocly's recommended rules pass: 0 errors, 0 warnings", async () => {
    const result = await lint(doc, 'openapi.json');
    const said = result.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`).join('\n');
    assert.deepEqual(result.totals, { errors: 0, warnings: 0, ignored: 0 }, said);
  });

  test('the lint does fail a document without operationIds or servers (the check can fail)', async () => {
    const broken = structuredClone(doc) as Doc;
    delete broken.servers;
    for (const methods of Object.values(broken.paths)) for (const op of Object.values(methods)) delete op.operationId;
    const result = await lint(broken, 'broken.json');
    assert.ok(result.totals.errors >= 1, 'no servers is an error');
    assert.ok(result.problems.some((p) => p.ruleId === 'operation-operationId'));
  });

  test('every operation has a unique camelCase operationId, a summary and a declared tag', () => {
    const declared = new Set((doc.tags ?? []).map((t) => t.name));
    const seen = new Set<string>();
    for (const { key, op } of operations()) {
      assert.match(op.operationId ?? '', /^[a-z][a-zA-Z0-9]+$/, `${key}: camelCase operationId`);
      assert.ok(!seen.has(op.operationId!), `${key}: operationId ${op.operationId} is unique`);
      seen.add(op.operationId!);
      assert.ok(op.summary, `${key}: summary`);
      assert.equal(op.tags?.length, 1, `${key}: one tag`);
      assert.ok(declared.has(op.tags![0]!), `${key}: tag ${op.tags![0]} is declared`);
    }
  });

  test('the contract routes have the method names a generated client gets', () => {
    const expected: Record<string, string> = {
      'POST /api/spawn': 'spawnPipeline',
      'GET /api/pipelines': 'listPipelines',
      'GET /api/pipeline/{id}': 'getPipeline',
      'GET /api/pipeline/{id}/report.md': 'getPipelineReportMarkdown',
      'GET /api/pipeline/{id}/orchestration': 'getPipelineOrchestration',
      'GET /api/checkpoint/report': 'getReportCheckpoint',
      'POST /api/pipeline/continue': 'continuePipeline',
      'POST /api/pipeline/{id}/stop': 'stopPipeline',
      'POST /api/pipeline/{id}/gamma': 'requestGamma',
      'POST /api/pipeline/{id}/recover': 'recoverPipeline',
      'GET /api/pipeline/logs': 'listAuditEntries',
      'GET /api/pipeline/{id}/checkpoints': 'listCheckpoints',
      'GET /api/pipeline/{id}/transcript': 'getTranscript',
      'GET /ws': 'streamEvents',
      'GET /healthz': 'getHealth',
      'GET /metrics': 'getMetrics',
      'GET /': 'getDashboard',
    };
    const actual = Object.fromEntries(operations().map(({ key, op }) => [key, op.operationId]));
    assert.deepEqual(actual, expected);
  });
});
