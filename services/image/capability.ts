/** The image capability: images resized, converted, adjusted, composed and inspected. */
import { ImageService } from "#gen/flowforge/image/v1/image_pb.js";
import { defineCapability } from "#capability/index.js";
import { builtOnFirstCall } from "#capability/on-first-call.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";
import { imageConfig } from "./config.js";

export default defineCapability({
  name: "image",
  services: [ImageService],
  async create({ env }) {
    const config = imageConfig(env);
    // sharp and libvips load with the first call.
    const { impl, stop } = builtOnFirstCall(ImageService, async () => {
      const [{ createImageService }, { withBlobStore }, { default: sharp }] = await Promise.all([
        import("./service.js"),
        import("#blobs/open.js"),
        import("sharp"),
      ]);
      // libvips is sized once per process: its cache holds little (every call brings another
      // image), and its threads per image times the bulkhead's slots fit the container's CPUs.
      sharp.cache(config.vipsCacheMib > 0 ? { memory: config.vipsCacheMib, files: 0, items: 100 } : false);
      sharp.concurrency(config.vipsThreads);
      return withBlobStore(blobConfig(env), (blobs) =>
        createImageService({
          limits: config.limits,
          concurrency: config.concurrency,
          memoryBytes: config.memoryBytes,
          blobs,
        }),
      );
    });
    return { services: [register(ImageService, impl)], stop };
  },
  deploy: {
    memory: "2Gi",
    summary: "ImageService: stateless, scaled by CPU; images are bounded in pixels, frames, bytes and time.",
  },
});
