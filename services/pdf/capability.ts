/** The PDF capability: documents read and assembled. */
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";

export default defineCapability({
  name: "pdf",
  services: [PdfService],
  async create() {
    const { createPdfService } = await import("./service.js");
    const { impl, close } = createPdfService();
    return { services: [register(PdfService, impl)], stop: close };
  },
  deploy: { summary: "PdfService: stateless, scaled by CPU; documents are handled on bounded worker threads." },
});
