import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkReleases, CURRENT_RELEASE, readManifest, releases } from '../../devstack/histories';

// A release's recorded histories never change: each release folder's SHA256SUMS lists its files,
// and any edit, deletion, addition to a past release or history left outside a release fails here.

test("released histories are unchanged, and every recording is sealed in its release's SHA256SUMS", () => {
  assert.ok(releases().length >= 1, 'at least one release folder under tests/histories');
  assert.ok(readManifest(CURRENT_RELEASE).size > 0, `tests/histories/${CURRENT_RELEASE}/SHA256SUMS lists its histories`);
  assert.deepEqual(checkReleases(), []);
});
