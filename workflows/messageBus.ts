import { ANSWER_LIMITS, INBOX_LIMIT } from '../common/limits';
import type { AgentMessage, MessageRecipient, Role } from '../common/types';
import type { PipelineState } from './pipelineState';

// The message bus between agents. An agent's answer may carry messages to ALPHA, BETA, GAMMA or all;
// they travel in its agentTurnResult signal and reach the recipient in its next agentTurn signal, so
// each is durable in the pipeline's history (a crash loses none) without a second store. Every
// message is kept in the orchestration's record and on the blackboard, and published as an
// `agent_message` event. Bounded: at most ANSWER_LIMITS.messages per answer (each already bounded in
// length by the answer's validation), and at most INBOX_LIMIT delivered into one turn. A proposer that
// hands its review out itself (workflows/directReview.ts) delivers its own messages with it, by the
// same two rules below.

type Delivered = Omit<AgentMessage, 'id'>;

/** The messages an answer sends: the first ANSWER_LIMITS.messages, none to the sender itself. */
export function sentBy(from: Role, round: number, messages: readonly { to: MessageRecipient; content: string }[] | undefined): Delivered[] {
  return (messages ?? [])
    .slice(0, ANSWER_LIMITS.messages)
    .filter((m) => m.to !== from)
    .map((m) => ({ round, from, to: m.to, content: m.content }));
}

/** Of the messages not yet handed to `role`, those for it (to it, or to all), the latest INBOX_LIMIT; undefined when none. */
export function inboxOf(role: Role, unseen: readonly Delivered[]): Delivered[] | undefined {
  const mine = unseen
    .filter((m) => m.from !== role && (m.to === role || m.to === 'all'))
    .slice(-INBOX_LIMIT)
    .map(({ round, from, to, content }) => ({ round, from, to, content }));
  return mine.length ? mine : undefined;
}

export class MessageBus {
  /** How many of the record's messages each agent has been handed. */
  private readonly delivered = new Map<Role, number>();

  constructor(
    private readonly s: PipelineState,
    /** Messages of earlier orchestrations are not delivered again. */
    private readonly from = s.orchestration.messages.length,
  ) {}

  post(from: Role, round: number, messages: readonly { to: MessageRecipient; content: string }[] | undefined): void {
    const { s } = this;
    for (const m of sentBy(from, round, messages)) {
      const message: AgentMessage = { id: `M${s.orchestration.messages.length + 1}`, ...m };
      s.orchestration.messages.push(message);
      s.outbox.write({ kind: 'message', value: message });
      s.outbox.emit('agent_message', { from: from.toUpperCase(), to: m.to.toUpperCase(), content: m.content });
      s.gamma.markProgress();
    }
  }

  /** The messages for `role` that it has not seen yet, without marking them seen. */
  peek(role: Role): Delivered[] | undefined {
    return inboxOf(role, this.s.orchestration.messages.slice(Math.max(this.delivered.get(role) ?? 0, this.from)));
  }

  /** Every message so far counts as seen by `role` (handed to it in a turn). */
  seen(role: Role): void {
    this.delivered.set(role, this.s.orchestration.messages.length);
  }

  /** The messages for `role` (to it, or to all from another agent) that it has not seen yet; marks them seen. */
  take(role: Role): Delivered[] | undefined {
    const mine = this.peek(role);
    this.seen(role);
    return mine;
  }
}
