/**
 * Describe, checked against values known independently of this code: the textbook example of
 * standard deviation, and the NIST StRD univariate summary datasets NumAcc1-4 at their certified
 * digits (mean and sample standard deviation).
 */
import { describe as suite, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { failure } from "#test/support/in-process.js";
import { mathClient } from "./helpers.js";

const { client } = mathClient();

/** NumAcc2-4: the first value, then 500 pairs alternating below and above it by 0.1 (1,001 values). */
function numAcc(center: number, below: number, above: number): number[] {
  const out = [center];
  for (let i = 0; i < 500; i++) out.push(below, above);
  return out;
}

suite("Describe", () => {
  it("the textbook example: 2, 4, 4, 4, 5, 5, 7, 9", async () => {
    const d = await client.describe({ values: [2, 4, 4, 4, 5, 5, 7, 9] });
    expect(d).toMatchObject({
      count: 8n,
      sum: 40,
      mean: 5,
      median: 4.5,
      mode: [4],
      min: 2,
      max: 9,
      variancePopulation: 4,
      stdDevPopulation: 2,
    });
    expect(d.stdDevSample).toBeCloseTo(2.138089935299395, 14);
    expect(d.varianceSample).toBeCloseTo(32 / 7, 14);
  });

  it("NIST StRD NumAcc1-4: certified mean and standard deviation", async () => {
    // Certified to 15 digits for exact decimal inputs; a double holds 1000000.1 only to ~1e-10 of
    // the 0.1 spread, so the digits a double-precision answer can reach fall with the magnitude
    // (NIST's log relative error: about 9 digits for NumAcc3, 8 for NumAcc4).
    const cases: [string, number[], number, number, number][] = [
      ["NumAcc1", [10000001, 10000003, 10000002], 10000002, 1, 1e-13],
      ["NumAcc2", numAcc(1.2, 1.1, 1.3), 1.2, 0.1, 1e-12],
      ["NumAcc3", numAcc(1000000.2, 1000000.1, 1000000.3), 1000000.2, 0.1, 1e-9],
      ["NumAcc4", numAcc(10000000.2, 10000000.1, 10000000.3), 10000000.2, 0.1, 1e-8],
    ];
    for (const [name, values, mean, sd, tolerance] of cases) {
      const d = await client.describe({ values });
      expect(Math.abs(d.mean - mean) / mean, name).toBeLessThan(1e-14);
      expect(Math.abs(d.stdDevSample - sd) / sd, name).toBeLessThan(tolerance);
    }
  });

  it("quantiles interpolate linearly between order statistics; IQR and MAD", async () => {
    const d = await client.describe({ values: [1, 2, 3, 4], quantiles: [0, 0.25, 0.5, 1] });
    expect(d.quantiles.map((q) => q.value)).toEqual([1, 1.75, 2.5, 4]);
    expect(d.iqr).toBe(1.5);
    expect((await client.describe({ values: [1, 1, 2, 2, 4, 6, 9] })).mad).toBe(1);
    expect((await client.describe({ values: [1, 2, 3, 4, 5] })).skewness).toBeCloseTo(0, 15);
    expect((await client.describe({ values: [1, 1, 2, 2] })).mode).toEqual([1, 2]);
    // No value repeats: no mode (not the whole sample back).
    expect((await client.describe({ values: [3, 1, 2] })).mode).toEqual([]);
  });

  it("bad input names the field", async () => {
    expect(await failure(client.describe({ values: [] }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["values"],
    });
    expect((await failure(client.describe({ values: [1, Number.NaN] }))).fields).toEqual(["values[1]"]);
    expect((await failure(client.describe({ values: [1], quantiles: [1.5] }))).fields).toEqual(["quantiles[0]"]);
  });
});

suite("Describe: histogram and z-scores", () => {
  it("equal-width bins from min to max (max in the last bin), z-scores in the order given", async () => {
    const values = [9, 2, 4, 4, 4, 5, 5, 7];
    const d = await client.describe({ values, histogramBins: 7, zScores: true });
    // Width (9 - 2) / 7 = 1: [2,3) [3,4) [4,5) [5,6) [6,7) [7,8) [8,9].
    expect(d.histogram.map((b) => [b.lower, b.upper, Number(b.count)])).toEqual([
      [2, 3, 1],
      [3, 4, 0],
      [4, 5, 3],
      [5, 6, 2],
      [6, 7, 0],
      [7, 8, 1],
      [8, 9, 1],
    ]);
    // Mean 5, sample standard deviation sqrt(32 / 7).
    const sd = Math.sqrt(32 / 7);
    expect(d.zScores).toHaveLength(8);
    for (const [i, v] of values.entries()) expect(d.zScores[i]).toBeCloseTo((v - 5) / sd, 14);
    const plain = await client.describe({ values });
    expect(plain.histogram).toEqual([]);
    expect(plain.zScores).toEqual([]);
    const same = await client.describe({ values: [3, 3, 3], histogramBins: 2, zScores: true });
    expect(same.zScores).toEqual([0, 0, 0]);
    expect(same.histogram.map((b) => Number(b.count))).toEqual([3, 0]);
    expect((await failure(client.describe({ values, histogramBins: 10_001 }))).fields).toEqual(["histogram_bins"]);
  });
});

suite("Describe of millions of values", () => {
  it("runs on a sandbox thread: a small call is answered while it sorts", async () => {
    const values = Array.from({ length: 3_000_000 }, (_, i) => Math.sin(i) * 1000);
    let described = false;
    const big = client.describe({ values }).then((d) => {
      described = true;
      return d;
    });
    const small = await client.evaluate({ expression: "2 + 2" });
    expect(small.text).toBe("4");
    expect(described).toBe(false);
    const d = await big;
    expect(d.count).toBe(3_000_000n);
    expect(d.min).toBeGreaterThanOrEqual(-1000);
    expect(d.max).toBeLessThanOrEqual(1000);
  }, 30_000);
});
