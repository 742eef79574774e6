/** The transform capability: data formats converted and queried. */
import { TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";

export default defineCapability({
  name: "transform",
  services: [TransformService],
  async create({ logger }) {
    const { createTransformService } = await import("./service.js");
    const { impl, close } = createTransformService({ logger });
    return { services: [register(TransformService, impl)], stop: close };
  },
  deploy: { summary: "TransformService: stateless, scaled by CPU; queries run on bounded worker threads." },
});
