// The per-pipeline cost budget, in the currency the provider reports (USD: OpenRouter's `usage.cost`
// of each call). The pipeline sums what its calls cost (workflows/agentChannel.ts, where every answered
// call is accounted) and stops once the sum reaches the budget, like the deadline ends an orchestration.
// The check runs as each agent's turn is reported, so the overshoot is at most the calls in flight at
// that moment (one turn's tries per agent). The local simulator costs nothing; a provider that reports
// no cost is priced from LLM_PRICES when its model is listed there (activities/llm.ts), else not charged.

/** Sums money without float drift piling up over hundreds of calls (to a billionth of a dollar). */
export const addCost = (a: number, b: number): number => Math.round((a + b) * 1e9) / 1e9;

/** A dollar amount for people: $5, $0.0123, $0.000234 (four significant digits). */
export const usd = (amount: number): string => `$${Number(amount.toPrecision(4))}`;

/** Why the pipeline must stop, once what it spent reaches its budget; null while it may go on. */
export function costOverrun(spentUsd: number, budgetUsd: number): string | null {
  return spentUsd > 0 && spentUsd >= budgetUsd ? `cost budget of ${usd(budgetUsd)} spent (${usd(spentUsd)})` : null;
}

/** USD per million tokens, per model (LLM_PRICES): for providers that report no cost of their own. */
export type PriceTable = Record<string, { prompt: number; completion: number }>;

/** A call's cost from the price table (the model as answered, else as asked for); undefined when it has no price. */
export function priceCall(usage: { promptTokens: number; completionTokens: number }, models: readonly string[], prices: PriceTable): number | undefined {
  const price = models.map((m) => prices[m]).find((p) => p !== undefined);
  if (!price) return undefined;
  return addCost(0, (usage.promptTokens * price.prompt + usage.completionTokens * price.completion) / 1e6);
}
