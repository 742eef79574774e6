/** Correlate (simple-statistics) and Regress (least squares by QR with ml-matrix). */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { inverse, Matrix, QrDecomposition } from "ml-matrix";
import { mean, sampleCorrelation, sampleCovariance, sampleRankCorrelation } from "simple-statistics";
import type {
  CorrelateRequest,
  CorrelateResponseSchema,
  RegressRequest,
  RegressResponseSchema,
} from "#gen/flowforge/math/v1/math_pb.js";
import { check } from "#runtime/errors.js";
import { dependentColumn } from "./linear-algebra.js";
import { checkPaired, checkSample } from "./samples.js";

/** Highest polynomial degree fitted. */
const maxDegree = 10;
/** Most predictors in a multiple regression. */
const maxPredictors = 100;
/** Most entries in the design matrix (observations × terms): bounds the memory and time of one fit. */
const maxDesignEntries = 4_000_000;

/** Correlation and covariance of two paired samples. */
export function correlate(req: CorrelateRequest): MessageInitShape<typeof CorrelateResponseSchema> {
  checkSample(req.x, "x", 2);
  checkSample(req.y, "y", 2);
  checkPaired(req.x, req.y);
  const n = req.x.length;
  const covarianceSample = sampleCovariance(req.x, req.y);
  return {
    pearson: sampleCorrelation(req.x, req.y),
    spearman: sampleRankCorrelation(req.x, req.y),
    covarianceSample,
    covariancePopulation: (covarianceSample * (n - 1)) / n,
  };
}

/** The regression's terms (columns besides the intercept) and the field that names them. */
function terms(req: RegressRequest): { columns: number[][]; field: string } {
  if (req.predictors.length > 0) {
    check(req.x.length === 0, "x", "must be empty when predictors are given");
    check(req.degree <= 1, "degree", "applies to x, not to predictors");
    check(req.predictors.length <= maxPredictors, "predictors", `must hold at most ${maxPredictors} predictors`);
    for (const [i, p] of req.predictors.entries()) {
      checkSample(p.values, `predictors[${i}].values`, 1);
      checkPaired(req.y, p.values, "y", `predictors[${i}].values`);
    }
    return { columns: req.predictors.map((p) => p.values), field: "predictors" };
  }
  const degree = req.degree || 1;
  check(degree <= maxDegree, "degree", `must be at most ${maxDegree}`);
  checkSample(req.x, "x", 1);
  checkPaired(req.x, req.y);
  const columns = Array.from({ length: degree }, (_, k) => req.x.map((v) => v ** (k + 1)));
  return { columns, field: "x" };
}

/**
 * Least squares with the intercept, r² and standard errors. Every column is centered first: that
 * takes the intercept out of the problem and keeps the QR factorization well conditioned (NIST's
 * Longley data keeps 12+ digits this way; normal equations keep few).
 */
export function regress(req: RegressRequest): MessageInitShape<typeof RegressResponseSchema> {
  checkSample(req.y, "y", 3);
  const { columns, field } = terms(req);
  const { y } = req;
  const n = y.length;
  const p = columns.length + 1;
  check(n > p, "y", `must hold more observations (${n}) than there are coefficients (${p})`);
  check(
    n * (p - 1) <= maxDesignEntries,
    field === "predictors" ? "predictors" : "degree",
    `observations × terms must be at most ${maxDesignEntries}, got ${n} × ${p - 1}`,
  );
  const means = columns.map((c) => mean(c));
  const yMean = mean(y);
  const design = new Matrix(n, p - 1);
  for (const [j, c] of columns.entries()) for (let i = 0; i < n; i++) design.set(i, j, c[i] - means[j]);
  const qr = new QrDecomposition(design);
  const r = qr.upperTriangularMatrix;
  const dependent = dependentColumn(design, qr);
  check(
    dependent < 0,
    field,
    field === "predictors"
      ? `predictors[${dependent}] is constant or a combination of the others`
      : dependent === 0
        ? "must not be all equal"
        : `has too few distinct values for a polynomial of degree ${columns.length}`,
  );
  const yCentered = Matrix.columnVector(y.map((v) => v - yMean));
  const beta = qr.solve(yCentered).to1DArray();
  const fitted = design.mmul(Matrix.columnVector(beta));
  let sse = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    sse += (yCentered.get(i, 0) - fitted.get(i, 0)) ** 2;
    sst += yCentered.get(i, 0) ** 2;
  }
  check(sst > 0, "y", "must not be all equal (r² is undefined)");
  const df = n - p;
  const variance = sse / df;
  // Cov(β) = σ² (XᵀX)⁻¹ = σ² R⁻¹ R⁻ᵀ.
  const rInverse = inverse(r);
  const covariance = rInverse.mmul(rInverse.transpose()).mul(variance);
  const intercept = yMean - beta.reduce((s, b, j) => s + b * means[j], 0);
  const meanVector = Matrix.columnVector(means);
  const interceptVariance = variance / n + meanVector.transpose().mmul(covariance).mmul(meanVector).get(0, 0);
  const standardErrors = [Math.sqrt(interceptVariance), ...beta.map((_, j) => Math.sqrt(covariance.get(j, j)))];
  const line = p === 2;
  return {
    intercept,
    slope: line ? beta[0] : 0,
    rSquared: 1 - sse / sst,
    interceptStandardError: standardErrors[0],
    slopeStandardError: line ? standardErrors[1] : 0,
    residualStandardDeviation: Math.sqrt(variance),
    coefficients: [intercept, ...beta],
    coefficientStandardErrors: standardErrors,
  };
}
