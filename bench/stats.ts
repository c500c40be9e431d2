import { readFileSync } from 'node:fs';

// Small measuring tools for the benchmark: percentiles, and a process's memory and CPU read from /proc
// (Linux), so the worker is measured from outside, as an operator would see it.

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Resident memory in bytes, or NaN when /proc cannot be read. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS until stopped; reports the peak and the CPU used over the window. */
export function watchProcess(pid: number, everyMs = 200) {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    const now = rssBytes(pid);
    if (!(now <= peak)) peak = Number.isNaN(peak) ? now : Math.max(peak, now);
  }, everyMs);
  return {
    stop(): { peakRssBytes: number; cpuSeconds: number; cpuPercent: number } {
      clearInterval(timer);
      peak = Math.max(peak, rssBytes(pid));
      const used = cpuSeconds(pid) - cpu0;
      const wall = (performance.now() - t0) / 1000;
      return { peakRssBytes: peak, cpuSeconds: used, cpuPercent: wall > 0 ? (100 * used) / wall : NaN };
    },
  };
}
