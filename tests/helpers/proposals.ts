import type { Design } from '../../common/limits';
import type { Proposal } from '../../common/types';

// A well-formed proposal for tests that need one and do not care what it says.

export const sampleDesign = (text = 'd'): Design => ({ approach: text, components: text, tradeoffs: text, risks: text, rollout: text });

export const sampleProposal = (id: string, over: Partial<Proposal> = {}): Proposal => ({
  id,
  round: 1,
  author: 'alpha',
  title: `title ${id}`,
  summary: 's',
  design: sampleDesign(),
  complexity: 0.4,
  ...over,
});
