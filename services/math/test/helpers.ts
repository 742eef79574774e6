/** A MathService client over connect's in-memory router transport, and its thread pool's closing. */
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { createMathService, type MathServiceOptions } from "../service.js";

/** A typed client whose calls run the real handlers in-process. */
export function mathClient(options: MathServiceOptions = {}) {
  const { impl, close } = createMathService(options);
  const client = createClient(
    MathService,
    createRouterTransport(({ service }) => service(MathService, impl)),
  );
  return { client, close };
}
