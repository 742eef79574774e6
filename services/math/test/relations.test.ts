/**
 * Correlate and Regress against values worked out by hand from the definitions (x = 1..5,
 * y = 2, 4, 5, 4, 5: Sxx = 10, Syy = 6, Sxy = 6), never values this code produced.
 */
import { describe, expect, it } from "vitest";
import { failure } from "../../crypto/test/helpers.js";
import { mathClient } from "./helpers.js";

const { client } = mathClient({ evaluate: { threads: 1 } });
const x = [1, 2, 3, 4, 5];
const y = [2, 4, 5, 4, 5];

describe("Correlate", () => {
  it("Pearson, Spearman and covariance", async () => {
    const c = await client.correlate({ x, y });
    expect(c.pearson).toBeCloseTo(6 / Math.sqrt(60), 14);
    expect(c.covarianceSample).toBeCloseTo(6 / 4, 14);
    expect(c.covariancePopulation).toBeCloseTo(6 / 5, 14);
    // Spearman is Pearson of the ranks; y's ties share their mean rank: 2 -> 1, 4 -> 2.5, 5 -> 4.5.
    const ry = [1, 2.5, 4.5, 2.5, 4.5];
    const mr = 3;
    const sxy = x.reduce((s, v, i) => s + (v - mr) * (ry[i] - mr), 0);
    const syy = ry.reduce((s, v) => s + (v - mr) ** 2, 0);
    expect(c.spearman).toBeCloseTo(sxy / Math.sqrt(10 * syy), 14);
    expect(await client.correlate({ x: [1, 2, 3], y: [3, 2, 1] })).toMatchObject({ pearson: -1, spearman: -1 });
  });
});

describe("Regress", () => {
  it("slope, intercept, r² and standard errors", async () => {
    const r = await client.regress({ x, y });
    expect(r.slope).toBeCloseTo(0.6, 14);
    expect(r.intercept).toBeCloseTo(2.2, 14);
    expect(r.rSquared).toBeCloseTo(0.6, 14);
    // SSE = Syy - Sxy²/Sxx = 6 - 3.6 = 2.4; s = sqrt(2.4 / 3).
    const s = Math.sqrt(0.8);
    expect(r.residualStandardDeviation).toBeCloseTo(s, 14);
    expect(r.slopeStandardError).toBeCloseTo(s / Math.sqrt(10), 14);
    expect(r.interceptStandardError).toBeCloseTo(s * Math.sqrt(1 / 5 + 9 / 10), 14);
  });

  it("bad input names the field", async () => {
    expect((await failure(client.regress({ x: [1, 2, 3], y: [1, 2] }))).fields).toEqual(["y"]);
    expect((await failure(client.regress({ x: [2, 2, 2], y: [1, 2, 3] }))).fields).toEqual(["x"]);
    expect((await failure(client.correlate({ x: [1, Number.POSITIVE_INFINITY], y: [1, 2] }))).fields).toEqual(["x[1]"]);
  });
});
