/** Describe: a sample's summary with simple-statistics, on a sorted copy read in place. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  mean,
  medianAbsoluteDeviation,
  medianSorted,
  sampleKurtosis,
  sampleSkewness,
  sampleStandardDeviation,
  sampleVariance,
  standardDeviation,
  sum,
  variance,
} from "simple-statistics";
import type { DescribeRequest, DescribeResponseSchema } from "#gen/flowforge/math/v1/math_pb.js";
import { check } from "#runtime/errors.js";
import { checkSample } from "./samples.js";

/** Most histogram bins. */
const maxBins = 10_000;

/** Every value that occurs most often in a sorted sample; none when every value occurs once. */
function modes(sorted: number[]): number[] {
  // Two passes over the runs of equal values, allocating nothing per run (millions of runs).
  let longest = 0;
  for (let i = 0, start = 0; i <= sorted.length; i++) {
    if (i === sorted.length || sorted[i] !== sorted[start]) {
      longest = Math.max(longest, i - start);
      start = i;
    }
  }
  const out: number[] = [];
  if (longest < 2) return out;
  for (let i = 0, start = 0; i <= sorted.length; i++) {
    if (i === sorted.length || sorted[i] !== sorted[start]) {
      if (i - start === longest) out.push(sorted[start]);
      start = i;
    }
  }
  return out;
}

/**
 * The p-quantile of a sorted sample by linear interpolation between order statistics (Hyndman
 * and Fan's type 7, R's and NumPy's default, what mathjs's quantileSeq computes) read in place:
 * quantileSeq copies the sample on every call, 80 MB a call for 3 million values.
 */
function quantileSorted(sorted: number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Summarizes a sample. */
export function describe(req: DescribeRequest): MessageInitShape<typeof DescribeResponseSchema> {
  const values = req.values;
  checkSample(values, "values", 1);
  check(req.histogramBins <= maxBins, "histogram_bins", `must be at most ${maxBins}`);
  const ps = req.quantiles.length > 0 ? req.quantiles : [0.25, 0.5, 0.75];
  for (const [i, p] of ps.entries()) check(p >= 0 && p <= 1, `quantiles[${i}]`, "must be between 0 and 1");
  // Sorted once: median, modes, extremes and quantiles read it as it is.
  // Sorted as doubles, then copied into a plain array filled in place (Array.from would box every value).
  const typed = Float64Array.from(values).sort();
  const asArray = new Array<number>(typed.length);
  for (let i = 0; i < typed.length; i++) asArray[i] = typed[i];
  const n = values.length;
  const quantile = (p: number) => quantileSorted(asArray, p);
  const average = mean(asArray);
  const sd = n > 1 ? sampleStandardDeviation(asArray) : 0;
  return {
    count: BigInt(n),
    sum: sum(asArray),
    mean: average,
    median: medianSorted(asArray),
    mode: modes(asArray),
    min: asArray[0],
    max: asArray[n - 1],
    variancePopulation: variance(asArray),
    varianceSample: n > 1 ? sampleVariance(asArray) : 0,
    stdDevPopulation: standardDeviation(asArray),
    stdDevSample: sd,
    quantiles: ps.map((p) => ({ p, value: quantile(p) })),
    iqr: quantile(0.75) - quantile(0.25),
    mad: medianAbsoluteDeviation(asArray),
    skewness: n > 2 ? sampleSkewness(asArray) : 0,
    kurtosis: n > 3 ? sampleKurtosis(asArray) : 0,
    histogram: req.histogramBins > 0 ? histogram(asArray, req.histogramBins) : [],
    zScores: req.zScores ? values.map((v) => (sd > 0 ? (v - average) / sd : 0)) : [],
  };
}

/** Equal-width bins from min to max of a sorted sample; the last bin also holds max. */
function histogram(sorted: number[], bins: number): { lower: number; upper: number; count: bigint }[] {
  const [min, max] = [sorted[0], sorted[sorted.length - 1]];
  const width = (max - min) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of sorted) counts[width > 0 ? Math.min(bins - 1, Math.floor((v - min) / width)) : 0]++;
  return counts.map((count, i) => ({
    lower: min + i * width,
    upper: i === bins - 1 ? max : min + (i + 1) * width,
    count: BigInt(count),
  }));
}
