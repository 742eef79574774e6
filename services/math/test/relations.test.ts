/**
 * Correlate, Regress and TTest against independently known values: worked out by hand from the
 * definitions (x = 1..5, y = 2, 4, 5, 4, 5: Sxx = 10, Syy = 6, Sxy = 6), NIST's certified
 * regression datasets, and the outputs R documents for its t.test examples.
 */
import { describe, expect, it } from "vitest";
import { Alternative, TTestKind } from "#gen/flowforge/math/v1/math_pb.js";
import { failure } from "#test/support/in-process.js";
import { mathClient } from "./helpers.js";
import { longley, lre, norris, wampler1 } from "./nist-strd.js";

const { client } = mathClient({ sandbox: { threads: 1 } });
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

describe("Regress against NIST StRD", () => {
  it("Norris (a line) to at least 11 digits", async () => {
    const r = await client.regress({ x: norris.x, y: norris.y });
    const c = norris.certified;
    expect(r.coefficients).toHaveLength(2);
    for (const [i, v] of c.coefficients.entries()) expect(lre(r.coefficients[i], v)).toBeGreaterThanOrEqual(11);
    for (const [i, v] of c.standardErrors.entries())
      expect(lre(r.coefficientStandardErrors[i], v)).toBeGreaterThanOrEqual(11);
    expect([r.intercept, r.slope]).toEqual(r.coefficients);
    expect(lre(r.residualStandardDeviation, c.residualStandardDeviation)).toBeGreaterThanOrEqual(11);
    expect(lre(r.rSquared, c.rSquared)).toBeGreaterThanOrEqual(11);
  });

  it("Longley (six collinear predictors) to at least 12 digits", async () => {
    const r = await client.regress({ y: longley.y, predictors: longley.predictors.map((values) => ({ values })) });
    const c = longley.certified;
    for (const [i, v] of c.coefficients.entries()) expect(lre(r.coefficients[i], v)).toBeGreaterThanOrEqual(12);
    for (const [i, v] of c.standardErrors.entries())
      expect(lre(r.coefficientStandardErrors[i], v)).toBeGreaterThanOrEqual(12);
    expect(lre(r.residualStandardDeviation, c.residualStandardDeviation)).toBeGreaterThanOrEqual(12);
    expect(lre(r.rSquared, c.rSquared)).toBeGreaterThanOrEqual(12);
    expect(r.slope).toBe(0);
  });

  it("Wampler1 (a fifth-degree polynomial): every coefficient 1, no residual", async () => {
    const r = await client.regress({ x: wampler1.x, y: wampler1.y, degree: 5 });
    expect(r.coefficients).toHaveLength(6);
    for (const b of r.coefficients) expect(lre(b, 1)).toBeGreaterThanOrEqual(9);
    expect(r.residualStandardDeviation).toBeLessThan(1e-6);
    expect(r.rSquared).toBeCloseTo(1, 12);
  });

  it("refuses dependent predictors, too few observations and a degree too high, naming the field", async () => {
    const a = [1, 2, 3, 4, 5];
    const dependent = { y: [1, 3, 2, 5, 4], predictors: [{ values: a }, { values: a.map((v) => 2 * v) }] };
    expect((await failure(client.regress(dependent))).fields).toEqual(["predictors"]);
    expect((await failure(client.regress({ x: a, y: a, degree: 4 }))).fields).toEqual(["y"]);
    expect((await failure(client.regress({ x: a, y: a, degree: 11 }))).fields).toEqual(["degree"]);
    // A design matrix past its bound (here 1,000,000 × 5) is refused before it is built.
    const many = Array.from({ length: 1_000_000 }, (_, i) => i % 97);
    expect((await failure(client.regress({ x: many, y: many, degree: 5 }))).fields).toEqual(["degree"]);
    const short = { y: [1, 2, 3, 4], predictors: [{ values: [1, 2, 3] }] };
    expect((await failure(client.regress(short))).fields).toEqual(["predictors[0].values"]);
  });
});

/** R's `sleep` data (Cushny and Peebles): extra hours of sleep under two drugs, ten patients. */
const drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

describe("TTest against R's documented t.test examples", () => {
  it("Welch: t = -1.8608, df = 17.776, p = 0.07939, 95% CI -3.3654832 to 0.2054832", async () => {
    const r = await client.tTest({ kind: TTestKind.WELCH, x: drug1, y: drug2 });
    expect(r.t).toBeCloseTo(-1.8608, 4);
    expect(r.degreesOfFreedom).toBeCloseTo(17.776, 3);
    expect(r.pValue).toBeCloseTo(0.07939, 5);
    expect(r.estimate).toBeCloseTo(-1.58, 12);
    expect(r.confidenceLower).toBeCloseTo(-3.3654832, 7);
    expect(r.confidenceUpper).toBeCloseTo(0.2054832, 7);
  });

  it("Student: df = 18, p = 0.07919, CI -3.363874 to 0.203874", async () => {
    const r = await client.tTest({ kind: TTestKind.STUDENT, x: drug1, y: drug2 });
    expect(r.degreesOfFreedom).toBe(18);
    expect(r.pValue).toBeCloseTo(0.07919, 5);
    expect(r.confidenceLower).toBeCloseTo(-3.363874, 6);
    expect(r.confidenceUpper).toBeCloseTo(0.203874, 6);
  });

  it("paired: t = -4.0621, df = 9, p = 0.002833, CI -2.4598858 to -0.7001142; the same as one sample of differences", async () => {
    const r = await client.tTest({ kind: TTestKind.PAIRED, x: drug1, y: drug2 });
    expect(r.t).toBeCloseTo(-4.0621, 4);
    expect(r.degreesOfFreedom).toBe(9);
    expect(r.pValue).toBeCloseTo(0.002833, 6);
    expect(r.confidenceLower).toBeCloseTo(-2.4598858, 7);
    expect(r.confidenceUpper).toBeCloseTo(-0.7001142, 7);
    const diffs = drug1.map((v, i) => v - drug2[i]);
    const one = await client.tTest({ kind: TTestKind.ONE_SAMPLE, x: diffs });
    expect(one.t).toBeCloseTo(r.t, 12);
    expect(one.pValue).toBeCloseTo(r.pValue, 12);
  });

  it("one-sided alternatives halve the two-sided p-value on the side of the estimate, with one open end", async () => {
    const less = await client.tTest({ kind: TTestKind.WELCH, x: drug1, y: drug2, alternative: Alternative.LESS });
    expect(less.pValue).toBeCloseTo(0.07939 / 2, 5);
    expect(less.confidenceLower).toBe(Number.NEGATIVE_INFINITY);
    const greater = await client.tTest({ kind: TTestKind.WELCH, x: drug1, y: drug2, alternative: Alternative.GREATER });
    expect(greater.pValue).toBeCloseTo(1 - 0.07939 / 2, 5);
    expect(greater.confidenceUpper).toBe(Number.POSITIVE_INFINITY);
    // t.test(1:10, 7:20): t = -5.4349, df = 21.982, p-value = 1.855e-05.
    const r = await client.tTest({
      kind: TTestKind.WELCH,
      x: Array.from({ length: 10 }, (_, i) => i + 1),
      y: Array.from({ length: 14 }, (_, i) => i + 7),
    });
    expect(r.t).toBeCloseTo(-5.4349, 4);
    expect(r.degreesOfFreedom).toBeCloseTo(21.982, 3);
    expect(r.pValue).toBeCloseTo(1.855e-5, 8);
  });

  it("bad input names the field", async () => {
    expect((await failure(client.tTest({ x: drug1 }))).fields).toEqual(["kind"]);
    expect((await failure(client.tTest({ kind: TTestKind.PAIRED, x: drug1, y: [1, 2] }))).fields).toEqual(["y"]);
    expect((await failure(client.tTest({ kind: TTestKind.ONE_SAMPLE, x: [3, 3, 3] }))).fields).toEqual(["x"]);
    const level = { kind: TTestKind.ONE_SAMPLE, x: drug1, confidenceLevel: 1.5 };
    expect((await failure(client.tTest(level))).fields).toEqual(["confidence_level"]);
  });
});
