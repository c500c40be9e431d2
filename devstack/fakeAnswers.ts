// What the fake LLM answers when no fault is queued: an object that follows the JSON schema the request
// asked for (response_format json_schema), or, for prompt-only requests, a well-formed answer for the
// task named on the prompt's "Task: <name>" line. Deliberately independent of agents/ so a test that
// parses these answers with agents/parse.ts checks the two sides agree.

type Schema = Record<string, unknown>;

interface Hints {
  proposalId: string;
  objective: string;
  /** A question another agent sent this one ("- from BETA (round 1): ...?"), which its answer takes up. */
  question?: { from: string; text: string };
}

export interface ChatBody {
  model?: string;
  messages?: { role?: string; content?: unknown }[];
  response_format?: { type?: string; json_schema?: { name?: string; schema?: Schema } };
}

export function promptText(body: ChatBody): string {
  return (body.messages ?? []).map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))).join('\n');
}

function hints(prompt: string): Hints {
  const proposalId = /Proposal under review:\s*(\S+)/.exec(prompt)?.[1] ?? /^- (\S+) by /m.exec(prompt)?.[1] ?? 'P1';
  const objective = (/Objective:\s*(.*)/.exec(prompt)?.[1] ?? 'the objective').slice(0, 60);
  const q = /^- from (\w+)[^:]*: (.*\?)\s*$/m.exec(prompt);
  return { proposalId, objective, ...(q ? { question: { from: q[1]!, text: q[2]!.slice(0, 200) } } : {}) };
}

function fromSchema(schema: Schema, key: string, h: Hints): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const alternatives = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (alternatives?.length) return fromSchema(alternatives[0]!, key, h);
  const type = Array.isArray(schema.type) ? (schema.type as string[]).find((t) => t !== 'null') : (schema.type as string | undefined);
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      return Object.fromEntries(Object.entries(props).map(([k, s]) => [k, fromSchema(s, k, h)]));
    }
    case 'array':
      return [fromSchema((schema.items ?? { type: 'string' }) as Schema, key, h)];
    case 'number':
    case 'integer': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
      const max = typeof schema.maximum === 'number' ? schema.maximum : min + 1;
      const mid = (min + max) / 2;
      return type === 'integer' ? Math.round(mid) : mid;
    }
    case 'boolean':
      return true;
    case 'string':
      if (key === 'proposalId') return h.proposalId;
      if (key === 'summary' && h.question) return `fake summary about ${h.objective}; answers ${h.question.from}: ${h.question.text}`;
      return `fake ${key || 'text'} about ${h.objective}`;
    default:
      return null;
  }
}

const BY_TASK: Record<string, (h: Hints) => unknown> = {
  research: (h) => ({ summary: `fake research about ${h.objective}` }),
  synthesis: (h) => ({ summary: `fake synthesis about ${h.objective}` }),
  propose: (h) => ({
    proposal: {
      title: `fake proposal for ${h.objective}`,
      summary: h.question ? `fake summary; answers ${h.question.from}: ${h.question.text}` : 'fake summary',
      design: { approach: 'fake approach', components: 'fake components', tradeoffs: 'fake trade-offs', risks: 'fake risks', rollout: 'fake rollout' },
      complexity: 0.4,
    },
  }),
  evaluate: (h) => ({ vote: { proposalId: h.proposalId, approve: true, reason: 'fake reason' }, messages: [{ to: 'alpha', content: 'fake evaluation' }] }),
  mediate: (h) => ({ vote: { proposalId: h.proposalId, approve: true, reason: 'fake mediation' }, messages: [{ to: 'all', content: 'fake guidance' }] }),
};

/** The assistant's content for a chat request. */
export function answerFor(body: ChatBody): string {
  const prompt = promptText(body);
  const h = hints(prompt);
  const schema = body.response_format?.type === 'json_schema' ? body.response_format.json_schema?.schema : undefined;
  if (schema) return JSON.stringify(fromSchema(schema, '', h));
  const user = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user' && typeof m.content === 'string' && /^Task: /m.test(m.content));
  const task = user ? /^Task: (\w+)/m.exec(user.content as string)?.[1] : undefined;
  const make = task ? BY_TASK[task] : undefined;
  if (make) return JSON.stringify(make(h));
  return body.response_format?.type === 'json_object' ? JSON.stringify({ answer: `fake answer about ${h.objective}` }) : `Fake answer about ${h.objective}.`;
}
