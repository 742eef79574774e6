/** Timing helpers the benches share. */

/** Best of `runs` timings of `fn`, in ms (the least disturbed run on a shared machine). */
export async function best(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

/**
 * Smoke mode (`BENCH_SMOKE=1`, as CI runs every bench): each bench starts, checks its answers and
 * prints its table on small inputs; its figures mean nothing.
 */
export const smoke = process.env.BENCH_SMOKE === "1";

/** A bench's size: the environment's `name` when set, else `full`, or `small` in smoke mode. */
export function size(name: string, full: number, small: number): number {
  const set = process.env[name];
  return set !== undefined && set !== "" ? Number(set) : smoke ? small : full;
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
