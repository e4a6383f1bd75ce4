/** What the benches share: a timer and the median with its spread (min-max) of repeated measurements. */

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)! };
}

/** Seconds one call of fn takes. */
export function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1e3;
}

/**
 * CPU seconds one call of fn takes (user + system time of this process, `process.cpuUsage`, microseconds):
 * on a machine whose cores are shared, time spent waiting for a core is not counted, as wall time counts it.
 * Cache and memory-bus contention from the other processes still are.
 */
export function cpuTime(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
}
