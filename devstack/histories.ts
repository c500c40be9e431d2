import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes';
import { PACKAGE_VERSION } from '../lib/buildId';

// The recorded histories, by release: tests/histories/<package version>/. Written by the server tests
// (harness.recordHistory) into the current release's folder only, replayed by
// tests/unit/replay.test.ts, which needs no server and so must not load the harness.
//
// A release's files are immutable once sealed: its SHA256SUMS (`sha256sum` format, so
// `sha256sum -c SHA256SUMS` checks it too) lists each file's hash, checkReleases() fails on any
// change, and recordHistory never writes a listed file. `npm run histories -- seal` lists the current
// release's new recordings; it never rewrites a line.

export const HISTORIES_DIR = join(REPO_ROOT, 'tests', 'histories');
export const MANIFEST = 'SHA256SUMS';
/**
 * Optional, in the current release's folder: past releases whose pipelines this code cannot replay,
 * one per line (`#` comments). Their pipelines drain on their own version's workers (Pinned); the
 * replay test skips them instead of failing.
 */
export const BREAKS = 'BREAKS';

export const CURRENT_RELEASE = PACKAGE_VERSION;
export const releaseDir = (release: string): string => join(HISTORIES_DIR, release);

const RELEASE_NAME = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;
const compareReleases = (a: string, b: string): number => {
  const pa = a.split(/[.+-]/).map(Number);
  const pb = b.split(/[.+-]/).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return a.localeCompare(b);
};

/** The release folders under tests/histories, oldest first. */
export function releases(): string[] {
  if (!existsSync(HISTORIES_DIR)) return [];
  return readdirSync(HISTORIES_DIR)
    .filter((d) => RELEASE_NAME.test(d) && statSync(join(HISTORIES_DIR, d)).isDirectory())
    .sort(compareReleases);
}

export const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A release's sealed files and their hashes (empty when it has no SHA256SUMS yet). */
export function readManifest(release: string): Map<string, string> {
  const file = join(releaseDir(release), MANIFEST);
  const sealed = new Map<string, string>();
  if (!existsSync(file)) return sealed;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sealed.set(m[2]!, m[1]!);
  }
  return sealed;
}

const historyFiles = (release: string): string[] =>
  readdirSync(releaseDir(release))
    .filter((f) => f.endsWith('.json'))
    .sort();

/**
 * What is wrong with the recorded histories: a sealed file changed or gone, a file of a past release
 * that its manifest does not list, a history left outside any release folder, or a recording of the
 * current release not sealed yet. Empty when all is well.
 */
export function checkReleases(): string[] {
  const problems: string[] = [];
  if (existsSync(HISTORIES_DIR)) {
    for (const f of readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'))) {
      problems.push(`tests/histories/${f} is outside a release folder: move it into tests/histories/${CURRENT_RELEASE}/ and seal it`);
    }
  }
  for (const release of releases()) {
    const sealed = readManifest(release);
    const dir = releaseDir(release);
    if (sealed.size === 0) problems.push(`tests/histories/${release} has no ${MANIFEST}`);
    for (const [file, hash] of sealed) {
      const path = join(dir, file);
      if (!existsSync(path)) problems.push(`${release}/${file} is sealed but gone: a release's histories are never deleted`);
      else if (sha256(path) !== hash) problems.push(`${release}/${file} changed after its release was sealed: record under a new version instead`);
    }
    for (const file of historyFiles(release).filter((f) => !sealed.has(f))) {
      problems.push(
        release === CURRENT_RELEASE
          ? `${release}/${file} is recorded but not sealed: run \`npm run histories -- seal\` and commit ${MANIFEST}`
          : `${release}/${file} was added to a past release: new recordings go to tests/histories/${CURRENT_RELEASE}`,
      );
    }
  }
  return problems;
}

/** Adds the current release's unsealed recordings to its SHA256SUMS; returns their names. Never rewrites a line. */
export function sealCurrentRelease(): string[] {
  const dir = releaseDir(CURRENT_RELEASE);
  if (!existsSync(dir)) return [];
  const sealed = readManifest(CURRENT_RELEASE);
  const added = historyFiles(CURRENT_RELEASE).filter((f) => !sealed.has(f));
  if (added.length) appendFileSync(join(dir, MANIFEST), added.map((f) => `${sha256(join(dir, f))}  ${f}\n`).join(''));
  return added;
}

/** Whether recordHistory may write this file of the current release: never when it is sealed. */
export function mayRecord(file: string): boolean {
  return !readManifest(CURRENT_RELEASE).has(file);
}

/** The past releases the current code declares it cannot replay (BREAKS in the current release's folder). */
export function declaredBreaks(): Set<string> {
  const file = join(releaseDir(CURRENT_RELEASE), BREAKS);
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean),
  );
}

export interface RecordedHistory {
  release: string;
  file: string;
  workflowId: string;
  history: ReturnType<typeof historyFromJSON>;
}

/** Every release's histories (or one release's), oldest release first. */
export function loadHistories(only?: string): RecordedHistory[] {
  return releases()
    .filter((r) => !only || r === only)
    .flatMap((release) =>
      historyFiles(release).map((file) => {
        const saved = JSON.parse(readFileSync(join(releaseDir(release), file), 'utf8')) as { workflowId: string; history: unknown };
        return { release, file, workflowId: saved.workflowId, history: historyFromJSON(saved.history) };
      }),
    );
}
