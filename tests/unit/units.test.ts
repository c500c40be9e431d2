import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAnswer } from '../../agents/parse';
import { ProviderError } from '../../agents/provider';
import { SimulatorProvider, simulateAnswer } from '../../agents/simulator';
import { agentWorkflowId, parseWorkflowId, pipelineWorkflowId } from '../../common/ids';
import { parsePipelineInput, resolveSettings } from '../../common/input';
import type { PipelineEvent, Proposal, Role, Vote } from '../../common/types';
import { checkVote, findConsensus, isAccepted } from '../../governance/consensus';
import { ConfigError, parseConfig, pipelineDefaults, redactConfig } from '../../lib/config';
import { Ledger, LedgerReader, LedgerUnavailable } from '../../lib/ledger';
import { REPO_ROOT } from '../../devstack/processes';
import { dynamicConfig, extraDynamicConfig } from '../../devstack/temporalServer';
import { sampleDesign, sampleProposal } from '../helpers/proposals';

// Plain logic, no server: the rules, the simulator, input and config validation, the ledger.

const proposal = (id: string): Proposal => sampleProposal(id, { title: id, complexity: 0.5 });

describe('consensus', () => {
  test('needs every active agent, or a majority with GAMMA casting', () => {
    const votes: Vote[] = [
      { proposalId: 'P1', agent: 'alpha', approve: true },
      { proposalId: 'P1', agent: 'beta', approve: false },
    ];
    assert.equal(isAccepted('P1', votes, ['alpha', 'beta']), false);
    assert.equal(isAccepted('P1', [...votes, { proposalId: 'P1', agent: 'gamma', approve: true }], ['alpha', 'beta', 'gamma']), true);
    assert.equal(isAccepted('P1', [votes[0]!], ['alpha', 'beta', 'gamma']), false, 'no acceptance without GAMMA when GAMMA is active');
    assert.equal(findConsensus([proposal('P1')], [votes[0]!, { proposalId: 'P1', agent: 'beta', approve: true }], ['alpha', 'beta'])?.proposalId, 'P1');
  });

  test('rejects votes for unknown proposals, double votes and votes of inactive agents', () => {
    const proposals = [proposal('P1')];
    const votes: Vote[] = [{ proposalId: 'P1', agent: 'alpha', approve: true }];
    assert.match(checkVote({ proposalId: 'P9', agent: 'beta', approve: true }, proposals, votes, ['alpha', 'beta']).reason!, /unknown proposal/);
    assert.match(checkVote({ proposalId: 'P1', agent: 'alpha', approve: true }, proposals, votes, ['alpha', 'beta']).reason!, /already voted/);
    assert.match(checkVote({ proposalId: 'P1', agent: 'gamma', approve: true }, proposals, votes, ['alpha', 'beta']).reason!, /not an active agent/);
  });

  test('property: no proposal is accepted without the required votes, whatever the order', () => {
    const roles: Role[] = ['alpha', 'beta', 'gamma'];
    const vote = fc.record({ proposalId: fc.constantFrom('P1', 'P2'), agent: fc.constantFrom(...roles), approve: fc.boolean() });
    fc.assert(
      fc.property(fc.array(vote, { maxLength: 12 }), fc.subarray(roles, { minLength: 1 }), (votes, active) => {
        const c = findConsensus([proposal('P1'), proposal('P2')], votes, active);
        if (!c) return;
        const approvers = new Set(votes.filter((v) => v.proposalId === c.proposalId && v.approve && active.includes(v.agent)).map((v) => v.agent));
        if (active.includes('gamma')) assert.ok(approvers.has('gamma') && approvers.size * 2 > active.length);
        else assert.ok(active.every((r) => approvers.has(r)));
      }),
    );
  });
});

describe('simulator', () => {
  test('the same input always gives the same answer', () => {
    const req = { pipelineId: 'p', role: 'alpha' as const, task: 'propose' as const, objective: 'Design a caching strategy', round: 2 };
    assert.deepEqual(simulateAnswer(req, 'consensus'), simulateAnswer({ ...req }, 'consensus'));
    assert.notDeepEqual(simulateAnswer(req, 'consensus'), simulateAnswer({ ...req, round: 3 }, 'consensus'));
  });

  test('designs follow the objective, in sections, and answer the question BETA sent', () => {
    const objective = 'Design a rate limiter for a public API';
    const base = { pipelineId: 'p', objective, round: 1 };
    const first = simulateAnswer({ ...base, role: 'alpha', task: 'propose' }, 'consensus').proposal!;
    assert.match(`${first.title} ${first.design.approach}`, /bucket|window|GCRA|quota/i, first.title);
    assert.doesNotMatch(JSON.stringify(first), /cach/i, 'no caching design for a rate limiter');
    for (const section of Object.values(first.design)) assert.ok(section.length > 20);
    const review = simulateAnswer({ ...base, role: 'beta', task: 'evaluate', proposalId: 'P1' }, 'consensus');
    const question = review.messages?.find((m) => m.to === 'alpha')?.content;
    assert.match(question ?? '', /\?$/, 'BETA asks ALPHA a question in its first review');
    const next = simulateAnswer(
      { ...base, round: 2, role: 'alpha', task: 'propose', inbox: [{ round: 1, from: 'beta', to: 'alpha', content: question! }] },
      'consensus',
    );
    assert.match(next.proposal!.summary, /Answers BETA: /);
    assert.deepEqual(
      next.messages?.map((m) => m.to),
      ['beta'],
    );
  });

  test('consensus: BETA asks for a refinement first, then agrees; no_consensus: never', () => {
    const ev = (round: number, scenario: 'consensus' | 'no_consensus') =>
      simulateAnswer({ pipelineId: 'p', role: 'beta', task: 'evaluate', objective: 'o', round, proposalId: 'P1' }, scenario).vote!.approve;
    assert.deepEqual([ev(1, 'consensus'), ev(2, 'consensus')], [false, true]);
    assert.deepEqual(
      [1, 2, 3, 4].map((r) => ev(r, 'no_consensus')),
      [false, false, false, false],
    );
  });

  test('waits latencyMs and fails the first proposal attempt in the flaky scenario', async () => {
    const sim = new SimulatorProvider();
    const req = { pipelineId: 'p', role: 'alpha' as const, task: 'propose' as const, objective: 'o', round: 1 };
    const t0 = Date.now();
    const out = await sim.complete(req, { mode: 'local', model: 'm', scenario: 'consensus', latencyMs: 120 }, { attempt: 1 });
    assert.ok(Date.now() - t0 >= 110);
    assert.equal(out.simulatedLatencyMs, 120);
    assert.ok(out.usage.totalTokens > 0);
    await assert.rejects(
      sim.complete(req, { mode: 'local', model: 'm', scenario: 'flaky', latencyMs: 0 }, { attempt: 1 }),
      (e: unknown) => e instanceof ProviderError && e.retryable,
    );
    await sim.complete(req, { mode: 'local', model: 'm', scenario: 'flaky', latencyMs: 0 }, { attempt: 2 });
  });

  test('model answers are validated against the task schema', () => {
    assert.equal(
      parseAnswer('propose', `\`\`\`json\n${JSON.stringify({ proposal: { title: 't', summary: 's', design: sampleDesign(), complexity: 0.3 } })}\n\`\`\``)
        .proposal?.title,
      't',
    );
    assert.throws(() => parseAnswer('propose', 'not json'), /not JSON/);
    assert.throws(() => parseAnswer('evaluate', '{"vote":{"proposalId":"P1"}}'), /breaks its schema at "vote.approve"/);
  });
});

describe('input and config', () => {
  test('workflow input: defaults fill the gaps, bad fields are named', () => {
    const defaults = pipelineDefaults(parseConfig({}));
    const s = resolveSettings(parsePipelineInput({ objective: ' Design ', thresholds: { stuckSeconds: 5 } }), 'demo', defaults);
    assert.equal(s.objective, 'Design');
    assert.deepEqual(s.thresholds, { stuckSeconds: 5, conflictCount: 3, complexity: 0.8 });
    assert.equal(s.timeoutSeconds, 120);
    assert.equal(s.mode, 'local');
    assert.throws(() => parsePipelineInput({ objective: '' }), /"objective"/);
    assert.throws(() => parsePipelineInput({ objective: 'x', budgets: { errors: { same: -1 } } }), /"budgets.errors.same"/);
    assert.throws(() => parsePipelineInput(null), /expected a JSON object/);
    const bad: [unknown, RegExp][] = [
      [{}, /field "objective" is required/],
      [{ objective: '   ' }, /field "objective" must not be empty/],
      [{ objective: 'x', colour: 'red' }, /field "colour" is not a known field/],
      [{ objective: 'x', thresholds: { stuck: 5 } }, /field "thresholds.stuck" is not a known field/],
      [{ objective: 'x', maxRounds: 2.5 }, /field "maxRounds" must be a whole number/],
      [{ objective: 'x', maxRounds: 101 }, /field "maxRounds" must be at most 100/],
      [{ objective: 'x', timeoutSeconds: '60' }, /field "timeoutSeconds" must be a number/],
      [{ objective: 'x', mode: 'cloud' }, /field "mode" must be one of local, openrouter/],
      [{ objective: 'x', autoContinue: 'yes' }, /field "autoContinue" must be true or false/],
      [{ objective: 'x', models: { alpha: '' } }, /field "models.alpha" must be at least 1/],
      [{ objective: 'x', pipelineId: 'a b' }, /field "pipelineId" must be letters, digits/],
      [{ objective: 'x', thresholds: { complexity: 1.5 } }, /field "thresholds.complexity" must be at most 1/],
      [{ objective: 'x', budgets: [] }, /field "budgets" must be an object/],
      [{ objective: 'x'.repeat(4001) }, /field "objective" must be at most 4000 characters/],
    ];
    for (const [input, message] of bad) assert.throws(() => parsePipelineInput(input), message, JSON.stringify(input).slice(0, 80));
    const full = {
      objective: 'x',
      pipelineId: 'p.1',
      autoContinue: false,
      mode: 'openrouter',
      model: 'm',
      models: { gamma: 'g' },
      timeoutSeconds: 5,
      thresholds: { complexity: 0 },
      maxRounds: 1,
      budgets: { tokens: 9, errors: { total: 2 } },
      scenario: 'stuck',
      latencyMs: 0,
    };
    assert.deepEqual(parsePipelineInput(full), full, 'every valid field is kept as given');
  });

  test('workflow ids: what ids.ts builds, it parses back', () => {
    assert.deepEqual(parseWorkflowId(pipelineWorkflowId('demo-1')), { pipelineId: 'demo-1' });
    assert.deepEqual(parseWorkflowId(agentWorkflowId('demo-1', 'orch', 'gamma')), { pipelineId: 'demo-1', agent: { phase: 'orch', role: 'gamma' } });
    assert.equal(parseWorkflowId('other-workflow'), null);
  });

  test('config: every bad value names its variable; secrets are never echoed', () => {
    assert.throws(
      () => parseConfig({ API_PORT: 'abc' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'API_PORT' && /abc/.test(e.message),
    );
    assert.throws(() => parseConfig({ GAMMA_COMPLEXITY_THRESHOLD: '2' }), /GAMMA_COMPLEXITY_THRESHOLD/);
    assert.throws(() => parseConfig({ REDIS_URL: 'localhost:6379' }), /REDIS_URL/);
    assert.throws(() => parseConfig({ LLM_MODE: 'openrouter' }), /LLM_MODE: openrouter needs OPENROUTER_API_KEY/);
    assert.throws(
      () => parseConfig({ API_TOKEN: 'sk-secret' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('sk-secret'),
    );
    // The worker's metrics ports: on by default (9464, 9465), off with 0 or off.
    const defaults = parseConfig({});
    assert.deepEqual([defaults.WORKER_METRICS_PORT, defaults.WORKER_SDK_METRICS_PORT, defaults.WORKER_METRICS_HOST], [9464, 9465, '127.0.0.1']);
    assert.equal(parseConfig({ WORKER_METRICS_PORT: '0' }).WORKER_METRICS_PORT, null);
    assert.equal(parseConfig({ WORKER_SDK_METRICS_PORT: 'off' }).WORKER_SDK_METRICS_PORT, null);
    assert.equal(parseConfig({ WORKER_METRICS_PORT: '9100' }).WORKER_METRICS_PORT, 9100);
    assert.throws(() => parseConfig({ WORKER_METRICS_PORT: '70000' }), /WORKER_METRICS_PORT/);
    assert.throws(() => parseConfig({ WORKER_SDK_METRICS_PORT: 'yes' }), /WORKER_SDK_METRICS_PORT/);
    const cfg = parseConfig({ OPENROUTER_API_KEY: 'sk-or-test-KEY' });
    assert.equal(cfg.llmMode, 'openrouter', 'a configured key selects openrouter');
    assert.ok(!JSON.stringify(redactConfig(cfg)).includes('sk-or-test-KEY'));
  });

  test('LLM_CALLS: queue by default and left out of the recorded defaults; worker recorded; refused beside LLM_RATE_LIMIT, which only the LLM queue enforces', () => {
    assert.equal(parseConfig({}).LLM_CALLS, 'queue');
    assert.equal(pipelineDefaults(parseConfig({})).llmCalls, undefined, 'the default adds nothing to the histories');
    assert.equal(pipelineDefaults(parseConfig({ LLM_CALLS: 'worker' })).llmCalls, 'worker');
    assert.throws(() => parseConfig({ LLM_CALLS: 'inline' }), /LLM_CALLS/);
    assert.throws(
      () => parseConfig({ LLM_CALLS: 'worker', LLM_RATE_LIMIT: '5' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'LLM_CALLS' && /LLM_RATE_LIMIT/.test(e.message),
    );
    assert.equal(parseConfig({ LLM_CALLS: 'queue', LLM_RATE_LIMIT: '5' }).LLM_RATE_LIMIT, 5);
    const defaults = pipelineDefaults(parseConfig({ LLM_CALLS: 'worker' }));
    assert.equal(resolveSettings({ objective: 'x' }, 'p', defaults).llmCalls, 'worker', "a pipeline's settings carry where its calls run");
  });

  test('a process started with a bad variable stops at once with a message naming it', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ERROR_BUDGET_TOTAL: 'many' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /bad value for ERROR_BUDGET_TOTAL/);
  });
});

test('TEMPORAL_DYNAMIC_CONFIG adds dev server settings or replaces ours; a malformed one is named', () => {
  const rps = (cfg: string[]) => cfg.filter((kv) => kv.startsWith('history.transferProcessorMaxPollRPS='));
  assert.deepEqual(rps(dynamicConfig({})), ['history.transferProcessorMaxPollRPS=100']);
  const replaced = dynamicConfig({ TEMPORAL_DYNAMIC_CONFIG: 'history.transferProcessorMaxPollRPS=20,limit.maxIDLength=255' });
  assert.deepEqual(rps(replaced), ['history.transferProcessorMaxPollRPS=20']);
  assert.ok(replaced.includes('limit.maxIDLength=255') && replaced.includes('system.enableActivityEagerExecution=true'));
  assert.deepEqual(extraDynamicConfig({}), []);
  assert.deepEqual(extraDynamicConfig({ TEMPORAL_DYNAMIC_CONFIG: 'history.transferProcessorMaxPollRPS=1000, limit.maxIDLength=255' }), [
    'history.transferProcessorMaxPollRPS=1000',
    'limit.maxIDLength=255',
  ]);
  assert.throws(
    () => extraDynamicConfig({ TEMPORAL_DYNAMIC_CONFIG: 'history.transferProcessorMaxPollRPS' }),
    /TEMPORAL_DYNAMIC_CONFIG: "history.transferProcessorMaxPollRPS" is not key=value/,
  );
});

describe('worker metrics listener', () => {
  test('a worker whose metrics port is taken stops at once, naming the variable to change', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
        cwd: REPO_ROOT,
        env: { ...process.env, WORKER_METRICS_PORT: String(port), WORKER_SDK_METRICS_PORT: 'off' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); set WORKER_METRICS_PORT, or off`));
    } finally {
      taken.close();
    }
  });
});

describe('ledger', () => {
  test('every write is idempotent: a retried activity never writes twice', () => {
    const ledger = new Ledger(join(mkdtempSync(join(tmpdir(), 'ag-unit-')), 'ledger.db'));
    const ref = { pipelineId: 'p1', runKey: 'run-1' };
    const settings = resolveSettings({ objective: 'o' }, 'p1', pipelineDefaults(parseConfig({})));
    assert.equal(ledger.recordPipeline({ ...ref, workflowId: 'pipeline-p1', settings, createdAt: 't' }), true);
    assert.equal(ledger.recordPipeline({ ...ref, workflowId: 'pipeline-p1', settings, createdAt: 't' }), false);
    const cp = { ...ref, key: '1-RUN-RUNNING', phase: 'RUN', status: 'RUNNING', data: {}, ts: 't' };
    assert.equal(ledger.recordCheckpoint(cp), true);
    assert.equal(ledger.recordCheckpoint(cp), false);
    const events: PipelineEvent[] = [1, 2, 3].map((seq) => ({ type: 'phase_changed', pipeline_id: 'p1', seq, ts: 't', data: {} }));
    assert.equal(ledger.recordAudit(ref, events), 3);
    assert.equal(ledger.recordAudit(ref, events), 0);
    const result = {
      pipelineId: 'p1',
      status: 'COMPLETED' as const,
      consensus: null,
      rounds: 1,
      gamma: { spawned: false, reason: null },
      tokens: 1,
      revoked: [],
      llmCriticalPathMs: 0,
    };
    assert.equal(ledger.recordResult({ ...ref, result, ts: 't' }), true);
    assert.equal(ledger.recordResult({ ...ref, result: { ...result, status: 'FAILED' }, ts: 't' }), false);
    assert.deepEqual(
      ledger.results('p1').map((r) => r.status),
      ['COMPLETED'],
    );
    assert.equal(ledger.checkpoints('p1').length, 1);
    assert.equal(ledger.audit('p1').length, 3);
    ledger.close();
  });

  test("the API's reader never creates the ledger: without the writer's file and tables it is unavailable, then reads what the writer wrote", () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ag-unit-')), 'ledger.db');
    const reader = new LedgerReader(path);
    assert.throws(() => reader.check(), LedgerUnavailable);
    assert.equal(existsSync(path), false, 'the reader created no file');
    writeFileSync(path, ''); // the file before the writer's DDL
    const early = new LedgerReader(path);
    assert.throws(
      () => early.audit(undefined),
      (e) => e instanceof LedgerUnavailable && /no audit_events table/.test(e.message),
    );
    const writer = new Ledger(path);
    writer.recordAudit({ pipelineId: 'p1', runKey: 'r1' }, [{ type: 'phase_changed', pipeline_id: 'p1', seq: 1, ts: 't', data: {} }]);
    assert.equal(reader.audit('p1').length, 1);
    assert.equal(early.audit('p1').length, 1, 'a reader opened before the tables existed sees them once they do');
    for (const l of [reader, early, writer]) l.close();
  });
});
