import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Proposal, Role, Vote } from '../../common/types';
import { checkVote, findConsensus } from '../../governance/consensus';
import { partialNotes } from '../../governance/deadline';
import {
  backoffMs,
  checkTokens,
  emptyBudget,
  recordFailure,
  recordSuccess,
  recordViolation,
  revocationCause,
  type BudgetLimits,
} from '../../governance/errorBudget';
import { complexityTrigger, conflictTrigger, stuckTrigger, triggersAfterProposal } from '../../governance/gammaTriggers';
import { procedureViolation } from '../../governance/procedure';
import { bestProposal, recoverRejection, recoveryPlan } from '../../governance/recovery';
import { sampleDesign, sampleProposal } from '../helpers/proposals';

// The governance rules as pure functions, without a server: each file of governance/ on its own.

const p = (id: string, complexity = 0.4, round = 1): Proposal => sampleProposal(id, { complexity, round });
const thresholds = { stuckSeconds: 30, conflictCount: 3, complexity: 0.8 };
const limits: BudgetLimits = { total: 8, same: 2, violations: 1 };

describe('consensus, whatever the order of messages', () => {
  test('property: counting votes one by one (as they arrive) gives the same consensus in any order', () => {
    const roles: Role[] = ['alpha', 'beta', 'gamma'];
    const proposals = [p('P1'), p('P2'), p('P3')];
    // One vote per agent and proposal (checkVote rejects the rest), in any arrival order.
    const ballot = fc.uniqueArray(
      fc.record({ proposalId: fc.constantFrom('P1', 'P2', 'P3', 'P9'), agent: fc.constantFrom<Role>(...roles), approve: fc.boolean() }),
      {
        selector: (v) => `${v.proposalId}:${v.agent}`,
        maxLength: 9,
      },
    );
    fc.assert(
      fc.property(ballot, fc.subarray(roles, { minLength: 1 }), fc.integer(), (votes, active, seed) => {
        const count = (order: Vote[]) => {
          const accepted: Vote[] = [];
          for (const v of order) if (checkVote(v, proposals, accepted, active).ok) accepted.push(v);
          return findConsensus(proposals, accepted, active)?.proposalId ?? null;
        };
        const shuffled = [...votes].sort(
          (a, b) => ((seed ^ (a.agent.length * 7) ^ a.proposalId.charCodeAt(1)) % 5) - ((seed ^ (b.agent.length * 7) ^ b.proposalId.charCodeAt(1)) % 5),
        );
        assert.equal(count(shuffled), count(votes));
        assert.equal(count([...votes].reverse()), count(votes));
      }),
    );
  });

  test("property: a revoked (inactive) agent's vote never counts", () => {
    fc.assert(
      fc.property(fc.boolean(), (approve) => {
        const proposals = [p('P1')];
        assert.equal(checkVote({ proposalId: 'P1', agent: 'beta', approve }, proposals, [], ['alpha']).ok, false);
        assert.equal(findConsensus(proposals, [{ proposalId: 'P1', agent: 'beta', approve: true }], ['alpha']), null);
      }),
    );
  });

  test('a vote counts only for the proposal under review', () => {
    const proposals = [p('P1'), p('P2')];
    const vote = { proposalId: 'P1', agent: 'beta' as const, approve: true };
    assert.deepEqual(checkVote(vote, proposals, [], ['alpha', 'beta'], 'P2'), {
      ok: false,
      reason: 'a vote counts only for the proposal under review (P2), not P1',
    });
    assert.equal(checkVote({ ...vote, proposalId: 'P2' }, proposals, [], ['alpha', 'beta'], 'P2').ok, true);
  });
});

describe('GAMMA triggers', () => {
  test('COMPLEXITY fires strictly above the threshold', () => {
    assert.equal(complexityTrigger(p('P1', 0.8), thresholds), undefined);
    assert.equal(complexityTrigger(p('P1', 0.81), thresholds)?.reason, 'COMPLEXITY');
  });

  test('CONFLICT fires at conflictCount unresolved proposals, not one below', () => {
    assert.equal(conflictTrigger([p('P1'), p('P2')], null, thresholds), undefined);
    assert.equal(conflictTrigger([p('P1'), p('P2'), p('P3')], null, thresholds)?.reason, 'CONFLICT');
    const consensus = { proposalId: 'P2', title: 't', round: 1, votes: [] };
    assert.equal(conflictTrigger([p('P1'), p('P2'), p('P3')], consensus, thresholds), undefined, 'an accepted proposal is resolved');
  });

  test('STUCK fires when the time without progress reaches stuckSeconds', () => {
    assert.equal(stuckTrigger(29_999, thresholds), undefined);
    assert.match(stuckTrigger(30_000, thresholds)?.detail ?? '', /for 30s/);
  });

  test('after a proposal, COMPLEXITY is checked before CONFLICT', () => {
    assert.equal(triggersAfterProposal(p('P3', 0.95), [p('P1'), p('P2'), p('P3', 0.95)], null, thresholds)?.reason, 'COMPLEXITY');
  });
});

describe('error budget', () => {
  test('the same class twice in a row spends the repeat budget; alternating classes do not', () => {
    const once = recordFailure(emptyBudget(), limits, 'LlmServer');
    assert.equal(once.exhausted, undefined);
    assert.equal(recordFailure(once.state, limits, 'LlmServer').exhausted?.budget, 'same');
    let state = emptyBudget();
    for (const cls of ['LlmServer', 'LlmRateLimited', 'LlmServer', 'LlmRateLimited', 'LlmServer', 'LlmRateLimited', 'LlmServer']) {
      const v = recordFailure(state, limits, cls);
      assert.equal(v.exhausted, undefined);
      state = v.state;
    }
    assert.equal(recordFailure(state, limits, 'LlmRateLimited').exhausted?.budget, 'total', 'the 8th failure spends the total');
  });

  test('a success breaks the streak but not the total', () => {
    const s = recordSuccess(recordFailure(emptyBudget(), limits, 'LlmServer').state);
    assert.equal(recordFailure(s, limits, 'LlmServer').exhausted, undefined);
    assert.equal(s.total, 1);
  });

  test('one procedure violation spends the default violation budget; a fatal class revokes at once', () => {
    assert.equal(recordViolation(emptyBudget(), limits, 'no vote').exhausted?.budget, 'violations');
    assert.equal(recordViolation(emptyBudget(), { ...limits, violations: 2 }, 'no vote').exhausted, undefined);
    assert.equal(recordFailure(emptyBudget(), limits, 'LlmAuth', { fatal: true }).exhausted?.budget, 'fatal');
  });

  test('the sentence of a revocation tells which budget it spent (the metrics label), with the last error appended as agents do', () => {
    const reasons = {
      same: recordFailure(recordFailure(emptyBudget(), limits, 'LlmServer').state, limits, 'LlmServer').exhausted!.reason,
      total: recordFailure({ ...emptyBudget(), total: 7 }, limits, 'LlmTimeout').exhausted!.reason,
      violations: recordViolation(emptyBudget(), limits, 'no vote').exhausted!.reason,
      fatal: recordFailure(emptyBudget(), limits, 'LlmAuth', { fatal: true }).exhausted!.reason,
      tokens: checkTokens(1000, 1000)!.reason,
    };
    for (const [cause, reason] of Object.entries(reasons)) assert.equal(revocationCause(`${reason}; last error procedure violation: x`), cause, reason);
    assert.equal(revocationCause('something else entirely'), undefined);
  });

  test('tokens: the agent stops at its budget; backoff honours Retry-After', () => {
    assert.equal(checkTokens(999, 1000), undefined);
    assert.match(checkTokens(1000, 1000)?.reason ?? '', /token budget spent/);
    assert.equal(backoffMs(1, 2500), 2500);
    assert.deepEqual(
      [1, 2, 3].map((a) => backoffMs(a)),
      [500, 1000, 2000],
    );
  });
});

describe('procedure', () => {
  test('answers outside the role or without what the task needs are violations', () => {
    assert.equal(
      procedureViolation('alpha', 'propose', { proposal: { title: 't', summary: 's', design: sampleDesign(), complexity: 0.3 } }, { proposalIds: [] }),
      undefined,
    );
    assert.match(
      procedureViolation('gamma', 'propose', { proposal: { title: 't', summary: 's', design: sampleDesign(), complexity: 0.3 } }, { proposalIds: [] })!,
      /may not propose/,
    );
    assert.match(
      procedureViolation('beta', 'evaluate', { proposal: { title: 't', summary: 's', design: sampleDesign(), complexity: 0.3 } }, { proposalIds: ['P1'] })!,
      /may not post a proposal/,
    );
    assert.match(
      procedureViolation('beta', 'evaluate', { vote: { proposalId: 'P7', approve: true, reason: '' } }, { proposalIds: ['P1'] })!,
      /unknown proposal P7/,
    );
    assert.equal(procedureViolation('gamma', 'mediate', { subproblems: ['a'] }, { proposalIds: ['P1'] }), undefined);
  });
});

describe('recovery and deadline', () => {
  test('each recover action has its plan; recover is only accepted in ORCHESTRATION_FAILED, once', () => {
    assert.deepEqual(recoveryPlan('rerun_with_gamma'), { gamma: true, acceptPartial: false });
    assert.deepEqual(recoveryPlan('accept_partial'), { gamma: false, acceptPartial: true });
    assert.match(recoverRejection('ORCHESTRATING', false)!, /not waiting in ORCHESTRATION_FAILED/);
    assert.match(recoverRejection('ORCHESTRATION_FAILED', true)!, /already accepted/);
    assert.equal(recoverRejection('ORCHESTRATION_FAILED', false), undefined);
  });

  test('the best proposal has the most approvals, the latest on a tie; the partial result names it', () => {
    const votes: Vote[] = [
      { proposalId: 'P1', agent: 'alpha', approve: true },
      { proposalId: 'P2', agent: 'alpha', approve: true },
      { proposalId: 'P1', agent: 'beta', approve: false },
    ];
    assert.equal(bestProposal([p('P1'), p('P2')], votes)?.id, 'P2');
    assert.equal(bestProposal([p('P1'), p('P2')], [...votes, { proposalId: 'P1', agent: 'gamma', approve: true }])?.id, 'P1');
    assert.equal(bestProposal([], []), null);
    assert.match(partialNotes([p('P1'), p('P2')], votes, 'deadline').join(' '), /best proposal so far: P2 .*\(1 approval/);
    assert.deepEqual(partialNotes([], [], 'deadline'), ['deadline', 'no proposal was posted before the end']);
  });
});
