/** The PDF capability: documents read and assembled. */
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";

export default defineCapability({
  name: "pdf",
  services: [PdfService],
  async create({ env, logger }) {
    const [{ createPdfService }, { withBlobStore }] = await Promise.all([
      import("./service.js"),
      import("#blobs/open.js"),
    ]);
    const { impl, stop } = await withBlobStore(blobConfig(env), (blobs) => createPdfService({ blobs, logger }));
    return { services: [register(PdfService, impl)], stop };
  },
  deploy: { summary: "PdfService: stateless, scaled by CPU; documents are handled on bounded worker threads." },
});
