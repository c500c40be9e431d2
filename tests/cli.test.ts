import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pipelineIdFromWorkflowId, pipelineWorkflowId } from '../common/ids';
import { statusQuery } from '../common/messages';
import { STATUSES } from '../common/types';
import { runCli } from '../devstack/temporalServer';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// The README's temporal CLI recipes, run as typed against a worker on the contract's task queue.

let h: Harness;
const cli = async (args: string[]) => {
  const r = await runCli(process.env.TEMPORAL_CLI_PATH ?? 'temporal', args, h.config.TEMPORAL_ADDRESS);
  assert.equal(r.status, 0, `temporal ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  h = await startHarness('cli', { taskQueue: 'agent-pipeline' });
});
after(async () => {
  await h?.stop();
});

test('start with only an objective ends COMPLETED; the status query answers in the contract shape', async () => {
  const workflowId = pipelineWorkflowId(uniqueId('cli'));
  await cli([
    'workflow',
    'start',
    '--type',
    'pipelineWorkflow',
    '--task-queue',
    'agent-pipeline',
    '--workflow-id',
    workflowId,
    '--static-summary',
    'Pipeline · Design a caching strategy',
    '--input',
    '{"objective":"Design a caching strategy"}',
  ]);
  const handle = h.client.workflow.getHandle(workflowId);
  const result = await handle.result();
  assert.equal(result.status, 'COMPLETED');
  assert.equal(result.pipelineId, pipelineIdFromWorkflowId(workflowId), 'the pipeline id is taken from the workflow id');

  const listed = await cli(['workflow', 'list', '--query', `WorkflowId = '${workflowId}' AND PipelineStatus = 'COMPLETED'`]);
  assert.match(listed, new RegExp(workflowId), 'found by its PipelineStatus search attribute');

  const out = JSON.parse(await cli(['workflow', 'query', '--workflow-id', workflowId, '--name', 'status', '--output', 'json']));
  const status = out.queryResult?.[0] ?? out;
  // The contract's fields, plus `breaker` (the shared LLM breaker; null in local mode), `cost` (spent and
  // budget, USD) and `outbox` (null while the outbox keeps up).
  assert.deepEqual(Object.keys(status).sort(), ['agents', 'breaker', 'cost', 'gamma', 'outbox', 'phase', 'pipelineId', 'startedAt', 'status', 'updatedAt']);
  assert.equal(status.outbox, null, 'the outbox kept up');
  assert.equal(status.breaker, null, 'no breaker in local mode');
  assert.ok(STATUSES.includes(status.status));
  for (const key of ['errors', 'id', 'phase', 'role', 'status', 'tokens']) assert.ok(key in status.agents[0], `an agent has the contract's "${key}"`);
});

test('signal spawnGamma, update continue and cancel from the CLI', async () => {
  const workflowId = pipelineWorkflowId(uniqueId('cli-steer'));
  await cli([
    'workflow',
    'start',
    '--type',
    'pipelineWorkflow',
    '--task-queue',
    'agent-pipeline',
    '--workflow-id',
    workflowId,
    '--input',
    '{"objective":"Design a caching strategy","autoContinue":false}',
  ]);
  const handle = h.client.workflow.getHandle(workflowId);
  await h.waitForStatus(handle, 'REPORT');
  await cli(['workflow', 'signal', '--workflow-id', workflowId, '--name', 'spawnGamma', '--input', '{"reason":"MANUAL"}']);
  const updated = await cli(['workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', 'continue']);
  assert.match(updated, /ORCHESTRATING/);
  const result = await handle.result();
  assert.equal(result.gamma.spawned, true);

  const rejected = await runCli(
    process.env.TEMPORAL_CLI_PATH ?? 'temporal',
    ['workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', 'continue'],
    h.config.TEMPORAL_ADDRESS,
  );
  assert.notEqual(rejected.status, 0, 'continue on a finished pipeline is refused');

  const other = pipelineWorkflowId(uniqueId('cli-cancel'));
  await cli([
    'workflow',
    'start',
    '--type',
    'pipelineWorkflow',
    '--task-queue',
    'agent-pipeline',
    '--workflow-id',
    other,
    '--input',
    '{"objective":"Design a caching strategy","autoContinue":false}',
  ]);
  const otherHandle = h.client.workflow.getHandle(other);
  await h.waitForStatus(otherHandle, 'REPORT');
  await cli(['workflow', 'cancel', '--workflow-id', other]);
  await assert.rejects(otherHandle.result());
  assert.equal((await otherHandle.query(statusQuery)).status, 'STOPPED');
});

test('find a pipeline waiting for recovery and recover it from the CLI', async () => {
  const workflowId = pipelineWorkflowId(uniqueId('cli-recover'));
  await cli([
    'workflow',
    'start',
    '--type',
    'pipelineWorkflow',
    '--task-queue',
    'agent-pipeline',
    '--workflow-id',
    workflowId,
    '--input',
    '{"objective":"Design a caching strategy","scenario":"no_consensus","maxRounds":1}',
  ]);
  const handle = h.client.workflow.getHandle(workflowId);
  await h.waitForStatus(handle, 'ORCHESTRATION_FAILED');
  let listed = '';
  for (let i = 0; i < 50 && !listed.includes(workflowId); i++) {
    // Visibility catches up with the search attribute a moment after the status changes.
    listed = await cli(['workflow', 'list', '--query', "PipelineStatus = 'ORCHESTRATION_FAILED'"]);
    if (!listed.includes(workflowId)) await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(listed, new RegExp(workflowId));
  const out = await cli(['workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', 'recover', '--input', '{"action":"accept_partial"}']);
  assert.match(out, /accept_partial/);
  const result = await handle.result();
  assert.equal(result.status, 'COMPLETED');
  assert.equal(result.partial?.proposalId, 'P1');
});
