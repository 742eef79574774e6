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
