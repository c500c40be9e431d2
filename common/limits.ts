// What an agent's answer may hold, part by part: the schemas sent to the model, the validation of its
// answer, the prompts that quote it and the payloads the workflow carries all take their bounds from
// here. An answer past a bound is a protocol problem (one repair, then a violation), so whatever a
// model returns, a proposal, a vote or a message stays a few kilobytes: well inside Temporal's payload
// limit, in every signal and checkpoint that carries it.

export const ANSWER_LIMITS = {
  /** RUN's research or synthesis. */
  findingsChars: 1500,
  titleChars: 160,
  /** A proposal's summary. */
  summaryChars: 600,
  /** Each section of a proposal's design. */
  sectionChars: 1500,
  /** A vote's reason. */
  reasonChars: 600,
  /** Messages an answer may send, and each one's length. */
  messages: 3,
  messageChars: 600,
  subproblems: 8,
  subproblemChars: 200,
  proposalIdChars: 40,
} as const;

/** The most messages one turn delivers to an agent (the latest, when more are waiting). */
export const INBOX_LIMIT = 6;

/** The parts of a design, in the order a report shows them. */
export const DESIGN_SECTIONS = ['approach', 'components', 'tradeoffs', 'risks', 'rollout'] as const;
export type DesignSection = (typeof DESIGN_SECTIONS)[number];
export const DESIGN_SECTION_TITLES: Record<DesignSection, string> = {
  approach: 'Approach',
  components: 'Components',
  tradeoffs: 'Trade-offs',
  risks: 'Risks',
  rollout: 'Rollout',
};
export type Design = Record<DesignSection, string>;

// What a person (or a script) can make a pipeline keep through its signals. Each ignored repeat still
// costs its own signal event in the history, nothing more.
export const SIGNAL_LIMITS = {
  /** spawnGamma requests kept for the orchestration query (the latest ones). */
  gammaRequests: 20,
  /** A spawnGamma request's detail, and a stop's reason. */
  detailChars: 500,
} as const;

/**
 * A run continues as new (same workflow id, the state carried over) before it could reach the
 * server's history limits: before every `recover` rerun, and while waiting at REPORT or in the
 * recovery window once its history has this many events (signals sent with the CLI add one each).
 */
export const HISTORY_LIMITS = {
  continueAsNewAt: 5_000,
  /** Orchestrations one pipeline may run (the first and its `recover` reruns): what a run carries stays small. */
  orchestrations: 10,
  /**
   * The orchestration record a rerun may start from (its JSON length): the record is carried into the
   * next run and answered by the queries, well inside the server's 2 MB payload limit.
   */
  recordChars: 1_000_000,
} as const;
