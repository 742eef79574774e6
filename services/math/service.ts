/** MathService: every handler runs on the sandbox's threads (sandboxed.ts), bounded in time and memory. */
import type { ServiceImpl } from "@connectrpc/connect";
import type { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import type { Logger } from "#runtime/logger.js";
import type { SandboxLimits } from "#runtime/sandbox.js";
import { createSandboxed } from "./sandboxed.js";

/** Options for createMathService. */
export interface MathServiceOptions {
  /** Bounds on the sandbox's threads (expressions, statistics, solving, matrices). */
  sandbox?: SandboxLimits;
  /** Where a sandbox thread's failure outside a task is reported. */
  logger?: Logger;
}

/** Creates the MathService implementation and the thread pool it runs on. */
export function createMathService(options: MathServiceOptions = {}): {
  impl: ServiceImpl<typeof MathService>;
  close(): Promise<void>;
} {
  const { close, ...impl } = createSandboxed(options.sandbox, options.logger);
  return { impl, close };
}
