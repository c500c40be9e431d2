import type { ChainableCommander, Redis } from 'ioredis';
import type { AgentMessage, Consensus, Handoff, Proposal, Role, Vote } from '../common/types';

// The blackboard: the pipeline's proposals, solutions, votes, consensus, messages and handoffs,
// mirrored into Redis for watchers. The workflow holds the authoritative copy; every write here is a
// keyed HSET/SET, so an activity retried any number of times leaves the same state.

export type BoardWrite =
  | { kind: 'proposal'; value: Proposal }
  | { kind: 'solution'; value: { proposalId: string; by: Role; text: string } }
  | { kind: 'vote'; value: Vote }
  | { kind: 'consensus'; value: Consensus }
  | { kind: 'message'; value: AgentMessage }
  | { kind: 'handoff'; value: Handoff }
  | { kind: 'subproblems'; value: { by: Role; items: string[] } };

export const boardKeys = (pipelineId: string) => {
  const base = `ag:${pipelineId}`;
  return {
    run: `${base}:run`,
    proposals: `${base}:proposals`,
    solutions: `${base}:solutions`,
    votes: `${base}:votes`,
    consensus: `${base}:consensus`,
    messages: `${base}:messages`,
    handoffs: `${base}:handoffs`,
    subproblems: `${base}:subproblems`,
    events: `${base}:events`,
  };
};

export function applyBoardWrites(tx: ChainableCommander, pipelineId: string, writes: BoardWrite[]): void {
  const k = boardKeys(pipelineId);
  for (const w of writes) {
    switch (w.kind) {
      case 'proposal':
        tx.hset(k.proposals, w.value.id, JSON.stringify(w.value));
        break;
      case 'solution':
        tx.hset(k.solutions, w.value.proposalId, JSON.stringify(w.value));
        break;
      case 'vote':
        tx.hset(k.votes, `${w.value.proposalId}:${w.value.agent}`, JSON.stringify(w.value));
        break;
      case 'consensus':
        tx.set(k.consensus, JSON.stringify(w.value));
        break;
      case 'message':
        tx.hset(k.messages, w.value.id, JSON.stringify(w.value));
        break;
      case 'handoff':
        tx.hset(k.handoffs, w.value.agentId, JSON.stringify(w.value));
        break;
      case 'subproblems':
        tx.set(k.subproblems, JSON.stringify(w.value));
        break;
    }
  }
}

/**
 * A finished pipeline's Redis keys (board, events, run marker) expire after `seconds`: Redis only
 * mirrors; the ledger is the durable record, and /ws replays from it once they are gone.
 */
export function expireBoard(tx: ChainableCommander, pipelineId: string, seconds: number): void {
  for (const key of Object.values(boardKeys(pipelineId))) tx.expire(key, seconds);
}

/** A new run of the same pipeline id starts from a clean board (the ledger keeps the old run). */
export async function claimBoard(redis: Redis, pipelineId: string, runKey: string): Promise<void> {
  const k = boardKeys(pipelineId);
  const current = await redis.get(k.run);
  if (current === runKey) return;
  await redis.multi().del(k.proposals, k.solutions, k.votes, k.consensus, k.messages, k.handoffs, k.subproblems, k.events).set(k.run, runKey).exec(); // SET clears a TTL the old run's end set
}
