import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { CURRENT_RELEASE, declaredBreaks, loadHistories } from '../devstack/histories';
import type { CaseRecorder } from './report';
import type { ChaosStack } from './stack';

// R7: every release's recorded histories (tests/histories/<version>) replay against the current workflow code, as
// tests/unit/replay.test.ts does: a change that breaks running pipelines' determinism shows here.

export async function replayHistories(stack: ChaosStack, rec: CaseRecorder): Promise<void> {
  // The replay worker's state changes would fill the output; warnings still show.
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed (a second run in this process).
  }
  const histories = loadHistories();
  const failures: string[] = [];
  const breaks = declaredBreaks();
  let count = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: stack.bundle } }, histories)) {
    const { release } = histories[count++]!;
    // A past release the current one declares it breaks drains on its own workers (tests/unit/replay.test.ts).
    if (r.error && !(release !== CURRENT_RELEASE && breaks.has(release))) failures.push(`${r.workflowId}: ${r.error.message.slice(0, 80)}`);
  }
  rec.check(
    'recorded histories that replay',
    `${count - failures.length}/${histories.length}${failures.length ? ` (${failures[0]})` : ''}`,
    count === histories.length && failures.length === 0 && count > 0,
  );
}
