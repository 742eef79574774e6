/** Group commit: which calls share a write, and what a failed write does to its callers. */
import { describe, expect, it } from "vitest";
import { createCoalescer } from "../coalesce.js";

function recorder(fail?: (batch: number[]) => boolean) {
  const batches: number[][] = [];
  let release: (() => void)[] = [];
  const coalescer = createCoalescer<number, number>({
    maxBatch: 3,
    run: async (batch) => {
      batches.push(batch);
      await new Promise<void>((r) => release.push(r));
      if (fail?.(batch)) throw new Error(`batch ${batch.join(",")} failed`);
      return batch.map((x) => x * 10);
    },
  });
  const releaseAll = () => {
    const r = release;
    release = [];
    for (const f of r) f();
  };
  return { batches, coalescer, releaseAll };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("createCoalescer", () => {
  it("writes calls of one tick together, and calls made during a write in the next one", async () => {
    const { batches, coalescer, releaseAll } = recorder();
    const first = [1, 2].map((x) => coalescer.call(x));
    await tick();
    const second = [3, 4, 5, 6, 7].map((x) => coalescer.call(x));
    await tick();
    expect(batches).toEqual([[1, 2]]); // one write at a time: the rest wait
    releaseAll();
    expect(await Promise.all(first)).toEqual([10, 20]);
    await tick();
    expect(batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]); // at most maxBatch per write
    releaseAll();
    await tick();
    releaseAll();
    expect(await Promise.all(second)).toEqual([30, 40, 50, 60, 70]);
    expect(batches).toEqual([
      [1, 2],
      [3, 4, 5],
      [6, 7],
    ]);
    await coalescer.idle();
  });

  it("fails every caller of a failed write, and only them", async () => {
    const { coalescer, releaseAll } = recorder((batch) => batch.includes(2));
    const a = coalescer.call(1);
    const b = coalescer.call(2);
    await tick();
    const c = coalescer.call(3);
    releaseAll();
    await expect(a).rejects.toThrow("batch 1,2 failed");
    await expect(b).rejects.toThrow("batch 1,2 failed");
    await tick();
    releaseAll();
    expect(await c).toBe(30);
  });
});
