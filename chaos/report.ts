// A chaos case's outcome: figures, each with what must hold, and the table `npm run chaos` prints.

export interface Check {
  /** What was measured, as a user would say it. */
  what: string;
  figure: string;
  ok: boolean;
}

export interface CaseResult {
  id: string;
  title: string;
  checks: Check[];
  seconds: number;
  /** The case could not run to its end (the error); its checks so far are still shown. */
  error?: string;
}

export const passed = (r: CaseResult): boolean => !r.error && r.checks.length > 0 && r.checks.every((c) => c.ok);

/** Collects a case's checks as it goes, so a case that throws half-way still reports what it saw. */
export class CaseRecorder {
  readonly checks: Check[] = [];
  check(what: string, figure: string | number, ok: boolean): boolean {
    this.checks.push({ what, figure: String(figure), ok });
    return ok;
  }
}

export async function runCase(id: string, title: string, body: (rec: CaseRecorder) => Promise<void>, log: (line: string) => void): Promise<CaseResult> {
  const started = Date.now();
  const rec = new CaseRecorder();
  log(`${id} ${title}: starting`);
  let error: string | undefined;
  try {
    await body(rec);
  } catch (err) {
    error = (err as Error).stack?.split('\n').slice(0, 3).join(' | ') ?? String(err);
  }
  const result: CaseResult = { id, title, checks: rec.checks, seconds: Math.round((Date.now() - started) / 1000), ...(error ? { error } : {}) };
  for (const c of rec.checks) log(`${id}   ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.figure}`);
  if (error) log(`${id}   ERROR ${error}`);
  log(`${id} ${passed(result) ? 'passed' : 'FAILED'} in ${result.seconds}s`);
  return result;
}

/** A plain-text table: case, what was measured, figure, pass/fail. */
export function table(results: CaseResult[]): string {
  const rows: string[][] = [['case', 'what was measured', 'figure', 'result']];
  for (const r of results) {
    r.checks.forEach((c, i) => rows.push([i === 0 ? `${r.id} (${r.seconds}s)` : '', c.what, c.figure, c.ok ? 'pass' : 'FAIL']));
    if (r.error) rows.push([r.checks.length ? '' : `${r.id} (${r.seconds}s)`, 'the case ran to its end', r.error.slice(0, 100), 'FAIL']);
  }
  const widths = rows[0]!.map((_, i) => Math.min(i === 2 ? 60 : 70, Math.max(...rows.map((row) => row[i]!.length))));
  const line = (row: string[]) => row.map((cell, i) => (cell.length > widths[i]! ? `${cell.slice(0, widths[i]! - 1)}…` : cell.padEnd(widths[i]!))).join(' | ');
  const sep = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join('\n');
}
