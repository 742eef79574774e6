/** MathService: the handlers wired into one ServiceImpl. */
import type { ServiceImpl } from "@connectrpc/connect";
import type { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { describe } from "./describe.js";
import { correlate, regress } from "./relations.js";
import { createEvaluate, type EvaluateLimits } from "./evaluate.js";

/** Options for createMathService. */
export interface MathServiceOptions {
  /** Bounds on Evaluate. */
  evaluate?: EvaluateLimits;
}

/** Creates the MathService implementation (and the thread pool Evaluate runs on). */
export function createMathService(options: MathServiceOptions = {}): {
  impl: ServiceImpl<typeof MathService>;
  close(): Promise<void>;
} {
  const { evaluate, simplify, derivative, close } = createEvaluate(options.evaluate);
  return { impl: { evaluate, simplify, derivative, describe, correlate, regress }, close };
}
