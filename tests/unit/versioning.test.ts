import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildId, gitCommit, PACKAGE_VERSION } from '../../lib/buildId';
import { parseConfig } from '../../lib/config';
import { deploymentVersion, versionKey, workerDeploymentOptions } from '../../workers/versioning';

// What a worker declares to Worker Versioning (README: Operations): its deployment version from the
// config, Pinned, and a build id from the package version and the commit unless WORKER_BUILD_ID says.

describe('worker deployment version', () => {
  test('the build id is <package version>+<commit>, or WORKER_BUILD_ID', () => {
    const commit = gitCommit();
    assert.match(buildId(), commit ? new RegExp(`^${PACKAGE_VERSION.replace(/\./g, '\\.')}\\+${commit}$`) : /\+unknown$/);
    assert.equal(buildId('0.2.0+1a2b3c4'), '0.2.0+1a2b3c4');
    const cfg = parseConfig({ WORKER_BUILD_ID: '0.2.0+1a2b3c4', WORKER_DEPLOYMENT_NAME: 'governance-eu' });
    assert.deepEqual(deploymentVersion(cfg), { deploymentName: 'governance-eu', buildId: '0.2.0+1a2b3c4' });
    assert.equal(versionKey(deploymentVersion(cfg)!), 'governance-eu:0.2.0+1a2b3c4');
  });

  test('workers are versioned and Pinned by default; WORKER_VERSIONING=false runs them unversioned', () => {
    const cfg = parseConfig({});
    assert.equal(cfg.WORKER_DEPLOYMENT_NAME, 'agent-governance');
    assert.equal(cfg.WORKER_PROMOTE, 'auto');
    assert.deepEqual(workerDeploymentOptions(deploymentVersion(cfg)), {
      useWorkerVersioning: true,
      version: { deploymentName: 'agent-governance', buildId: buildId() },
      defaultVersioningBehavior: 'PINNED',
    });
    assert.equal(workerDeploymentOptions(deploymentVersion(parseConfig({ WORKER_VERSIONING: 'false' }))), undefined);
  });

  test('bad values name their variable', () => {
    assert.throws(() => parseConfig({ WORKER_BUILD_ID: '0.2.0 1a2b' }), /WORKER_BUILD_ID/);
    assert.throws(() => parseConfig({ WORKER_DEPLOYMENT_NAME: 'a:b' }), /WORKER_DEPLOYMENT_NAME/);
    assert.throws(() => parseConfig({ WORKER_PROMOTE: 'sometimes' }), /WORKER_PROMOTE/);
  });
});
