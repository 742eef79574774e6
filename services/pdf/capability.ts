/** The PDF capability: documents read and assembled. */
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { defineCapability } from "#capability/index.js";
import { builtOnFirstCall } from "#capability/on-first-call.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";

export default defineCapability({
  name: "pdf",
  services: [PdfService],
  async create({ env, logger }) {
    // pdf-lib, sharp and the sandbox threads load with the first call.
    const { impl, stop } = builtOnFirstCall(PdfService, async () => {
      const [{ createPdfService }, { withBlobStore }] = await Promise.all([
        import("./service.js"),
        import("#blobs/open.js"),
      ]);
      return withBlobStore(blobConfig(env), (blobs) => createPdfService({ blobs, logger }));
    });
    return { services: [register(PdfService, impl)], stop };
  },
  deploy: { summary: "PdfService: stateless, scaled by CPU; documents are handled on bounded worker threads." },
});
