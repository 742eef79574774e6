/** The transform capability: data formats converted and queried. */
import { TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { defineCapability } from "#capability/index.js";
import { builtOnFirstCall } from "#capability/on-first-call.js";
import { register } from "#runtime/server.js";

export default defineCapability({
  name: "transform",
  // Its routes are /api/v1/data/*: keys name it as users see it ("transform" is still accepted).
  scope: "data",
  services: [TransformService],
  async create({ logger }) {
    // exceljs, the CSV and expression libraries and the sandbox threads load with the first call.
    const { impl, stop } = builtOnFirstCall(TransformService, async () => {
      const { createTransformService } = await import("./service.js");
      const { impl, close } = createTransformService({ logger });
      return { impl, stop: close };
    });
    return { services: [register(TransformService, impl)], stop };
  },
  deploy: { summary: "TransformService: stateless, scaled by CPU; queries run on bounded worker threads." },
});
