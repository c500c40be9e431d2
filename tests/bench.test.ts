import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../devstack/processes';

// CI runs the benchmark's quick mode: it must run end to end and report every figure. Targets are
// not asserted here — a slow or busy machine misses them without anything being broken.

/** Runs the benchmark with `args` into a directory of its own: what it printed and its one JSON report. */
async function runBench(args: string[]) {
  const out = mkdtempSync(join(tmpdir(), 'ag-bench-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args, '--out', out], {
    cwd: REPO_ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, `the benchmark failed:\n${output.slice(-3000)}`);
  const files = readdirSync(out).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1, 'one JSON result file');
  return { output, file: files[0]!, report: JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) };
}

test('npm run bench -- --quick reports P1-P4 and L1, with every pipeline completed', { timeout: 300_000 }, async () => {
  const { output, file, report } = await runBench(['--quick']);
  assert.match(file, /-quick\.json$/, 'the quick run says so in its file name');
  const { p1, p2, p3, p4, l1, l1Transcripts } = report.results;
  assert.ok(p1.ratioMedian > 1 && Number.isFinite(p1.ratioMedian), `P1 is a ratio above 1 (${p1.ratioMedian})`);
  assert.equal(p1.llmCriticalPathMs, 1000, 'the simulator reports the critical path: 5 sequential calls of 200 ms');
  // Where the median P1 run's time went (bench/criticalPath.ts), from its histories: every millisecond
  // of the pipeline's run on the server is put in one category, and the LLM time on the path is the
  // simulator's critical path, so the walk crossed into the agents and back at every turn.
  const b = p1.breakdown;
  const sum = Object.values(b.ms as Record<string, number>).reduce((x, y) => x + y, 0);
  assert.ok(Math.abs(sum - b.totalMs) <= 12, `the breakdown's categories sum to ${sum} ms, the run took ${b.totalMs} ms`);
  assert.equal(b.ms.llm, p1.llmCriticalPathMs, 'the LLM time on the critical path is the simulated one');
  assert.equal(b.steps.other, 0, 'every step on the path has a known cause');
  assert.ok(b.steps.signal >= 4 && b.steps.childStart >= 2 && b.workflowTasks >= 5, `the path crosses the agents (${JSON.stringify(b.steps)})`);
  assert.match(output, /critical path of one pipeline: \d+ ms on the server/, 'the breakdown is printed');
  assert.ok(p3.ratio > 0 && Number.isFinite(p3.ratio), 'P3 measured');
  assert.ok(Math.abs(p3.baselineCriticalPathMs - p1.llmCriticalPathMs) < 1, 'the baseline runs the same chain of calls');
  for (const step of p2.steps) {
    assert.equal(step.completed, step.n, `P2 N=${step.n}: every pipeline completed`);
    assert.ok(step.workerPeakRssBytes > 0 && step.historyEventsPerPipeline > 0, `P2 N=${step.n}: worker memory and history measured`);
    // What saturates first: the dev server's CPU beside the worker's, when the benchmark started the server.
    if (process.env.TEMPORAL_ADDRESS) assert.equal(step.serverCpuPercent, null, `P2 N=${step.n}: a server the bench did not start is not measured`);
    else assert.ok(step.serverCpuPercent > 0, `P2 N=${step.n}: the dev server's CPU measured (${step.serverCpuPercent})`);
  }
  assert.ok(p4.p95Ms > 0 && p4.p95Ms < 30_000, `P4 measured (${p4.p95Ms} ms)`);
  // L1 replays the warm-up pipeline's own outbox batches: its per-pipeline rows are that pipeline's.
  assert.ok(l1.perPipeline.batches > 1 && l1.perPipeline.byTable.results === 1 && l1.perPipeline.byTable.audit_events > 0, 'L1 read a real outbox');
  assert.equal(l1.rows, l1.pipelines * l1.perPipeline.rows, 'L1 wrote every row of every replayed pipeline once');
  assert.ok(l1.batchesPerSecond > 0 && l1.rowsPerSecond >= l1.batchesPerSecond, `L1 measured (${l1.rowsPerSecond} rows/s)`);
  assert.equal(l1Transcripts.perPipeline.byTable.llm_transcripts, l1.perPipeline.byTable.llm_calls, 'L1 with transcripts: one per call');
  assert.equal(l1Transcripts.rows, l1Transcripts.pipelines * l1Transcripts.perPipeline.rows, 'L1 with transcripts wrote every row once');
  assert.match(
    output,
    /P1 overhead[\s\S]*P2 scale[\s\S]*P3 price of durability[\s\S]*P4 spawn[\s\S]*L1 ledger writes\/s[\s\S]*L1 with transcripts/,
    'the table is printed',
  );
  assert.match(report.machine.cpuModel, /./, 'the machine is recorded');
});

test(
  'npm run bench -- --llm-calls worker: the calls run as local activities and the critical path still accounts for every millisecond',
  { timeout: 300_000 },
  async () => {
    const { report } = await runBench(['--only', 'p1', '--runs', '1', '--llm-calls', 'worker']);
    assert.equal(report.options.llmCalls, 'worker', 'the report says where the calls ran');
    const { p1 } = report.results;
    const b = p1.breakdown;
    const sum = Object.values(b.ms as Record<string, number>).reduce((x, y) => x + y, 0);
    assert.ok(Math.abs(sum - b.totalMs) <= 12, `the breakdown's categories sum to ${sum} ms, the run took ${b.totalMs} ms`);
    // Each call's latency is read from its local activity's marker, inside the workflow task it ran in.
    assert.equal(b.ms.llm, p1.llmCriticalPathMs, 'the LLM time on the critical path is the simulated one');
    assert.equal(b.steps.llm, 5, 'five calls on the path');
    assert.ok(b.steps.activityDispatch <= 1, `no call was dispatched as an activity: only the ledger batch is (${b.steps.activityDispatch})`);
    assert.equal(b.steps.other, 0, 'every step on the path has a known cause');
  },
);
