/** TTest: one-sample, Welch, Student and paired t-tests, p-values from stdlib's t distribution. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import { mean, sampleVariance } from "simple-statistics";
import { Alternative, type TTestRequest, type TTestResponseSchema, TTestKind } from "#gen/flowforge/math/v1/math_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { checkSample } from "./samples.js";

/** The statistic's parts: estimate, its standard error and the degrees of freedom. */
interface Statistic {
  estimate: number;
  standardError: number;
  degreesOfFreedom: number;
}

function oneSample(x: number[]): Statistic {
  return { estimate: mean(x), standardError: Math.sqrt(sampleVariance(x) / x.length), degreesOfFreedom: x.length - 1 };
}

function twoSample(x: number[], y: number[], pooled: boolean): Statistic {
  const [nx, ny] = [x.length, y.length];
  const [vx, vy] = [sampleVariance(x), sampleVariance(y)];
  const estimate = mean(x) - mean(y);
  if (pooled) {
    const df = nx + ny - 2;
    const v = ((nx - 1) * vx + (ny - 1) * vy) / df;
    return { estimate, standardError: Math.sqrt(v * (1 / nx + 1 / ny)), degreesOfFreedom: df };
  }
  const [sx, sy] = [vx / nx, vy / ny];
  // Welch–Satterthwaite degrees of freedom.
  const df = (sx + sy) ** 2 / (sx ** 2 / (nx - 1) + sy ** 2 / (ny - 1));
  return { estimate, standardError: Math.sqrt(sx + sy), degreesOfFreedom: df };
}

/** Runs the test the request asks for. */
export function tTest(req: TTestRequest): MessageInitShape<typeof TTestResponseSchema> {
  const confidence = req.confidenceLevel === 0 ? 0.95 : req.confidenceLevel;
  check(confidence > 0 && confidence < 1, "confidence_level", "must be between 0 and 1 (exclusive)");
  check(Number.isFinite(req.mu), "mu", "must be a finite number");
  checkSample(req.x, "x", 2);
  let s: Statistic;
  switch (req.kind) {
    case TTestKind.ONE_SAMPLE:
      s = oneSample(req.x);
      break;
    case TTestKind.WELCH:
    case TTestKind.STUDENT:
      checkSample(req.y, "y", 2);
      s = twoSample(req.x, req.y, req.kind === TTestKind.STUDENT);
      break;
    case TTestKind.PAIRED:
      checkSample(req.y, "y", 2);
      check(
        req.y.length === req.x.length,
        "y",
        `must hold as many numbers as x (${req.x.length}), got ${req.y.length}`,
      );
      s = oneSample(req.x.map((v, i) => v - req.y[i]));
      break;
    default:
      throw invalidArgument("kind", "is required: one sample, Welch, Student or paired");
  }
  check(s.standardError > 0, "x", "has no variance: the t statistic is undefined");
  const { estimate, standardError, degreesOfFreedom: df } = s;
  const t = (estimate - req.mu) / standardError;
  const alternative = req.alternative === Alternative.UNSPECIFIED ? Alternative.TWO_SIDED : req.alternative;
  let pValue: number;
  let [lower, upper] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  switch (alternative) {
    case Alternative.LESS:
      pValue = tCdf(t, df);
      upper = estimate + tQuantile(confidence, df) * standardError;
      break;
    case Alternative.GREATER:
      pValue = tCdf(-t, df);
      lower = estimate - tQuantile(confidence, df) * standardError;
      break;
    case Alternative.TWO_SIDED: {
      pValue = 2 * tCdf(-Math.abs(t), df);
      const q = tQuantile(1 - (1 - confidence) / 2, df);
      [lower, upper] = [estimate - q * standardError, estimate + q * standardError];
      break;
    }
    default:
      throw invalidArgument("alternative", `unknown alternative ${req.alternative}`);
  }
  return {
    t,
    degreesOfFreedom: df,
    pValue,
    estimate,
    standardError,
    confidenceLower: lower,
    confidenceUpper: upper,
  };
}
