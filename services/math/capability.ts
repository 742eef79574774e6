/** The math capability: safe expression evaluation and statistics. */
import { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";

export default defineCapability({
  name: "math",
  services: [MathService],
  async create({ logger }) {
    const { createMathService } = await import("./service.js");
    const { impl, close } = createMathService({ logger });
    return { services: [register(MathService, impl)], stop: close };
  },
  deploy: { summary: "MathService: stateless, scaled by CPU; expressions run on bounded worker threads." },
});
