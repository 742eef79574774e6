/** MathService: the handlers wired into one ServiceImpl. */
import type { ServiceImpl } from "@connectrpc/connect";
import type { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { describe } from "./describe.js";
import { correlate, regress } from "./relations.js";
import { createSandboxed } from "./sandboxed.js";
import { tTest } from "./ttest.js";
import type { SandboxLimits } from "#runtime/sandbox.js";

/** Options for createMathService. */
export interface MathServiceOptions {
  /** Bounds on the work done on the sandbox's threads (expressions, solving, matrices). */
  sandbox?: SandboxLimits;
}

/** Creates the MathService implementation (and the thread pool Evaluate runs on). */
export function createMathService(options: MathServiceOptions = {}): {
  impl: ServiceImpl<typeof MathService>;
  close(): Promise<void>;
} {
  const { close, ...sandboxed } = createSandboxed(options.sandbox);
  return { impl: { ...sandboxed, describe, correlate, regress, tTest }, close };
}
