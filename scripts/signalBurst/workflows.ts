import { condition, defineSignal, setHandler } from '@temporalio/workflow';

// The smallest workflow a signal flood can hit: a handler that only counts, and a wait for `done`.
// Nothing of the pipeline's, so what a burst costs here is the SDK's own per-signal work.

export const pokeSignal = defineSignal<[unknown]>('poke');
export const doneSignal = defineSignal('done');

export async function burstTarget(): Promise<number> {
  let pokes = 0;
  let done = false;
  setHandler(pokeSignal, () => void pokes++);
  setHandler(doneSignal, () => void (done = true));
  await condition(() => done);
  return pokes;
}
