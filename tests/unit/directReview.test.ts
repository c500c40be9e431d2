import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AgentTurn, AgentTurnResult } from '../../common/messages';
import { ANSWER_LIMITS, INBOX_LIMIT } from '../../common/limits';
import { directReviewer, reviewTurn } from '../../workflows/directReview';

// The rules of workflows/directReview.ts: when the pipeline lets ALPHA hand its proposal's review to
// BETA, and the turn ALPHA builds (the one the pipeline would have sent).

const thresholds = { stuckSeconds: 30, conflictCount: 3, complexity: 0.8 };
const design = { approach: 'a', components: 'b', tradeoffs: 'c', risks: 'd', rollout: 'e' };

describe('direct review: when it is offered', () => {
  const base = { author: 'alpha' as const, active: ['alpha', 'beta'] as const, gammaIdle: true, unresolvedBefore: 0, thresholds };
  test('ALPHA to BETA, with GAMMA idle and no CONFLICT to come', () => {
    assert.equal(directReviewer(base), 'beta');
    assert.equal(directReviewer({ ...base, unresolvedBefore: 1 }), 'beta');
  });
  test('not when the proposal would make CONFLICT fire, GAMMA was requested or takes part, BETA is gone, or BETA proposes', () => {
    assert.equal(directReviewer({ ...base, unresolvedBefore: 2 }), undefined, '3 unresolved with this one');
    assert.equal(directReviewer({ ...base, gammaIdle: false }), undefined);
    assert.equal(directReviewer({ ...base, active: ['alpha', 'beta', 'gamma'] }), undefined);
    assert.equal(directReviewer({ ...base, active: ['alpha'] }), undefined);
    assert.equal(directReviewer({ ...base, author: 'beta' }), undefined);
  });
});

describe('direct review: the turn the proposer sends', () => {
  const propose = (over: Partial<AgentTurn> = {}): AgentTurn => ({
    turnId: 'o1-r2-alpha-propose',
    round: 2,
    action: 'propose',
    orchestration: 1,
    review: {
      to: 'beta',
      turnId: 'o1-r2-beta-evaluate',
      proposalId: 'P4',
      proposals: [
        { id: 'P1', title: 'one', complexity: 0.4, author: 'alpha' },
        { id: 'P2', title: 'two', complexity: 0.4, author: 'beta' },
        { id: 'P3', title: 'three', complexity: 0.4, author: 'alpha' },
      ],
      inbox: [{ round: 1, from: 'gamma', to: 'beta', content: 'earlier' }],
      maxComplexity: 0.8,
      cost: { spentUsd: 0.03, budgetUsd: 0.05 },
    },
    ...over,
  });
  const draft = (complexity: number) => ({ title: 'four', summary: 's', design, complexity });

  test("the proposal as the pipeline posts it, the three latest open proposals, BETA's messages with ALPHA's", () => {
    const turn = reviewTurn(propose({ subproblems: ['x', 'y'] }), 'alpha', {
      proposal: draft(0.8),
      messages: [
        { to: 'beta', content: 'for beta' },
        { to: 'gamma', content: 'for gamma' },
        { to: 'all', content: 'for all' },
      ],
    });
    assert.deepEqual(turn, {
      turnId: 'o1-r2-beta-evaluate',
      round: 2,
      action: 'evaluate',
      proposalId: 'P4',
      proposal: { ...draft(0.8), id: 'P4', round: 2, author: 'alpha', subproblems: ['x', 'y'] },
      proposals: [
        { id: 'P2', title: 'two', complexity: 0.4, author: 'beta' },
        { id: 'P3', title: 'three', complexity: 0.4, author: 'alpha' },
        { id: 'P4', title: 'four', complexity: 0.8, author: 'alpha' },
      ],
      inbox: [
        { round: 1, from: 'gamma', to: 'beta', content: 'earlier' },
        { round: 2, from: 'alpha', to: 'beta', content: 'for beta' },
        { round: 2, from: 'alpha', to: 'all', content: 'for all' },
      ],
      orchestration: 1,
    });
  });

  test("none once the proposer's calls spent the cost budget (the pipeline stops on its reply)", () => {
    const call = (costUsd?: number) => ({ costUsd }) as NonNullable<AgentTurnResult['calls']>[number];
    assert.ok(reviewTurn(propose(), 'alpha', { proposal: draft(0.5), calls: [call(0.01), call(0.009)] }));
    assert.equal(reviewTurn(propose(), 'alpha', { proposal: draft(0.5), calls: [call(0.01), call(0.01)] }), undefined);
    assert.ok(reviewTurn(propose(), 'alpha', { proposal: draft(0.5), calls: [call(undefined)] }), 'a call without a cost costs nothing');
  });

  test('none above the complexity threshold (GAMMA comes in first), without an offer, or without a proposal', () => {
    assert.equal(reviewTurn(propose(), 'alpha', { proposal: draft(0.81) }), undefined);
    assert.equal(reviewTurn(propose({ review: undefined }), 'alpha', { proposal: draft(0.5) }), undefined);
    assert.equal(reviewTurn(propose(), 'alpha', {}), undefined);
  });

  test('bounded as the message bus is: the first messages of an answer, the latest of an inbox', () => {
    const many = Array.from({ length: ANSWER_LIMITS.messages + 2 }, (_, i) => ({ to: 'beta' as const, content: `m${i}` }));
    const earlier = Array.from({ length: INBOX_LIMIT }, (_, i) => ({ round: 1, from: 'gamma' as const, to: 'beta' as const, content: `e${i}` }));
    const turn = reviewTurn(propose({ review: { ...propose().review!, inbox: earlier } }), 'alpha', { proposal: draft(0.5), messages: many })!;
    assert.equal(turn.inbox!.length, INBOX_LIMIT);
    assert.deepEqual(
      turn.inbox!.slice(-ANSWER_LIMITS.messages).map((m) => m.content),
      many.slice(0, ANSWER_LIMITS.messages).map((m) => m.content),
    );
    assert.equal(
      reviewTurn(propose({ review: { ...propose().review!, inbox: undefined } }), 'alpha', {
        proposal: draft(0.5),
        messages: [{ to: 'alpha', content: 'self' }],
      })!.inbox,
      undefined,
    );
  });
});
