import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../devstack/processes';

// The recorded histories: written by the server tests (harness.recordHistory), replayed by
// tests/unit/replay.test.ts, which needs no server and so must not load the harness.

export const HISTORIES_DIR = join(REPO_ROOT, 'tests', 'histories');

export function loadHistories(): { workflowId: string; history: ReturnType<typeof historyFromJSON> }[] {
  if (!existsSync(HISTORIES_DIR)) return [];
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const saved = JSON.parse(readFileSync(join(HISTORIES_DIR, f), 'utf8')) as { workflowId: string; history: unknown };
      return { workflowId: saved.workflowId, history: historyFromJSON(saved.history) };
    });
}
