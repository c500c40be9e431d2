import { spawnSync } from 'node:child_process';

// Reading a Prometheus text body as a user's query would: the sum of a series' samples whose labels
// match. And promtool, Prometheus's own checker (Debian's `prometheus` package; .ci/run installs it).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseSamples(body: string): Sample[] {
  const out: Sample[] = [];
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of `name`'s samples whose labels include `labels`; 0 when there is none. */
export function sumOf(body: string, name: string, labels: Record<string, string> = {}): number {
  return parseSamples(body)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** Whether a series of that name (any labels) is in the body. */
export const hasSeries = (body: string, name: string): boolean => parseSamples(body).some((s) => s.name === name);

/** The promtool binary, or undefined when it is not installed (PROMTOOL_PATH, else `promtool` on PATH). */
export function findPromtool(): string | undefined {
  const bin = process.env.PROMTOOL_PATH ?? 'promtool';
  return spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0 ? bin : undefined;
}

export const PROMTOOL_MISSING = 'promtool is not installed (apt-get install prometheus, or set PROMTOOL_PATH); .ci/run installs it';

/** Runs promtool; its exit status and what it printed. */
export function promtool(bin: string, args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

const PROMQL_WORDS = new Set(['by', 'without', 'and', 'or', 'unless', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression reads (labels, ranges, strings, functions and keywords left out). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names = [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)].filter((m) => !m[2] && !PROMQL_WORDS.has(m[1]!.toLowerCase())).map((m) => m[1]!);
  return [...new Set(names)];
}

/** Every series name a body declares (its # TYPE lines), with a histogram's _bucket, _sum and _count. */
export function declaredNames(body: string): Set<string> {
  const out = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    out.add(m[1]!);
    if (m[2] === 'histogram' || m[2] === 'summary') for (const s of ['_bucket', '_sum', '_count']) out.add(`${m[1]}${s}`);
  }
  return out;
}
