import { ANSWER_LIMITS, INBOX_LIMIT } from '../common/limits';
import type { AgentMessage, MessageRecipient, Role } from '../common/types';
import type { PipelineState } from './pipelineState';

// The message bus between agents. An agent's answer may carry messages to ALPHA, BETA, GAMMA or all;
// they travel in its agentTurnResult signal and reach the recipient in its next agentTurn signal, so
// each is durable in the pipeline's history (a crash loses none) without a second store. Every
// message is kept in the orchestration's record and on the blackboard, and published as an
// `agent_message` event. Bounded: at most ANSWER_LIMITS.messages per answer (each already bounded in
// length by the answer's validation), and at most INBOX_LIMIT delivered into one turn.

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
    for (const m of (messages ?? []).slice(0, ANSWER_LIMITS.messages)) {
      if (m.to === from) continue; // a note to oneself is no message
      const message: AgentMessage = { id: `M${s.orchestration.messages.length + 1}`, round, from, to: m.to, content: m.content };
      s.orchestration.messages.push(message);
      s.outbox.write({ kind: 'message', value: message });
      s.outbox.emit('agent_message', { from: from.toUpperCase(), to: m.to.toUpperCase(), content: m.content });
      s.gamma.markProgress();
    }
  }

  /** The messages for `role` (to it, or to all from another agent) that it has not seen yet; marks them seen. */
  take(role: Role): Omit<AgentMessage, 'id'>[] | undefined {
    const all = this.s.orchestration.messages;
    const since = Math.max(this.delivered.get(role) ?? 0, this.from);
    this.delivered.set(role, all.length);
    const mine = all
      .slice(since)
      .filter((m) => m.from !== role && (m.to === role || m.to === 'all'))
      .slice(-INBOX_LIMIT)
      .map(({ round, from, to, content }) => ({ round, from, to, content }));
    return mine.length ? mine : undefined;
  }
}
