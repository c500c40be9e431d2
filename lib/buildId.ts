import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The build id of this code: the one place it is computed. Worker Versioning pins each pipeline to
// the build that started it, so two builds whose workflow code differs must never share an id.

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The package version (package.json): the release whose histories tests/histories/<version>/ holds. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The checkout's commit (7 hex digits), or undefined without git or a .git directory (a container image). */
export function gitCommit(): string | undefined {
  try {
    return (
      execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

let computed: string | undefined;

/**
 * WORKER_BUILD_ID when set (an image has no .git: its build passes the id in), else
 * `<package version>+<commit>`, e.g. `0.1.0+29dc92f`. Uncommitted changes do not change it: a build
 * that is deployed is a commit. Without either, `<version>+unknown`, which two images would share.
 */
export function buildId(explicit?: string): string {
  if (explicit) return explicit;
  computed ??= `${PACKAGE_VERSION}+${gitCommit() ?? 'unknown'}`;
  return computed;
}
