/** The PDF capability: documents read and assembled. */
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";

export default defineCapability({
  name: "pdf",
  services: [PdfService],
  async create({ env }) {
    const [{ createPdfService }, { openBlobStore }] = await Promise.all([
      import("./service.js"),
      import("#blobs/open.js"),
    ]);
    const blobs = await openBlobStore(blobConfig(env));
    const { impl, close } = createPdfService({ blobs });
    return {
      services: [register(PdfService, impl)],
      async stop() {
        await close();
        await blobs.close();
      },
    };
  },
  deploy: { summary: "PdfService: stateless, scaled by CPU; documents are handled on bounded worker threads." },
});
