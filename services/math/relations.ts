/** Correlate and Regress over paired samples, with simple-statistics. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  linearRegression,
  linearRegressionLine,
  mean,
  rSquared,
  sampleCorrelation,
  sampleCovariance,
  sampleRankCorrelation,
} from "simple-statistics";
import type {
  CorrelateRequest,
  CorrelateResponseSchema,
  RegressRequest,
  RegressResponseSchema,
} from "#gen/flowforge/math/v1/math_pb.js";
import { check } from "#runtime/errors.js";

/** Largest sample accepted. */
const maxValues = 10_000_000;

/** Checks two paired samples of at least `min` finite numbers. */
function paired(x: number[], y: number[], min: number) {
  check(x.length >= min, "x", `must hold at least ${min} numbers`);
  check(x.length <= maxValues, "x", `must hold at most ${maxValues} numbers`);
  check(y.length === x.length, "y", `must hold as many numbers as x (${x.length}), got ${y.length}`);
  for (const [name, values] of [
    ["x", x],
    ["y", y],
  ] as const) {
    const bad = values.findIndex((v) => !Number.isFinite(v));
    check(bad < 0, `${name}[${bad}]`, "must be a finite number");
  }
}

/** Correlation and covariance of two paired samples. */
export function correlate(req: CorrelateRequest): MessageInitShape<typeof CorrelateResponseSchema> {
  paired(req.x, req.y, 2);
  const n = req.x.length;
  const covarianceSample = sampleCovariance(req.x, req.y);
  return {
    pearson: sampleCorrelation(req.x, req.y),
    spearman: sampleRankCorrelation(req.x, req.y),
    covarianceSample,
    covariancePopulation: (covarianceSample * (n - 1)) / n,
  };
}

/** Least-squares line with r² and the usual standard errors. */
export function regress(req: RegressRequest): MessageInitShape<typeof RegressResponseSchema> {
  paired(req.x, req.y, 3);
  const { x, y } = req;
  const n = x.length;
  const xMean = mean(x);
  const sxx = x.reduce((s, v) => s + (v - xMean) ** 2, 0);
  check(sxx > 0, "x", "must not be all equal");
  const points = x.map((v, i) => [v, y[i]]);
  const { m: slope, b: intercept } = linearRegression(points);
  const line = linearRegressionLine({ m: slope, b: intercept });
  const sse = points.reduce((s, [px, py]) => s + (py - line(px)) ** 2, 0);
  const residualStandardDeviation = Math.sqrt(sse / (n - 2));
  return {
    intercept,
    slope,
    rSquared: rSquared(points, line),
    slopeStandardError: residualStandardDeviation / Math.sqrt(sxx),
    interceptStandardError: residualStandardDeviation * Math.sqrt(1 / n + xMean ** 2 / sxx),
    residualStandardDeviation,
  };
}
