/** A MathService client running the real handlers in-process, and its thread pool's closing. */
import { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { inProcessClient } from "#test/support/in-process.js";
import { createMathService, type MathServiceOptions } from "../service.js";

export const mathClient = (options: MathServiceOptions = {}) =>
  inProcessClient(MathService, createMathService(options));
