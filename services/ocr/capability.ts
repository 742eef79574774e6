/** The OCR capability: text read from images and scanned PDFs. */
import { OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig, ocrConfig } from "#config/index.js";

export default defineCapability({
  name: "ocr",
  services: [OcrService],
  async create({ env }) {
    const [{ createOcrService }, { openBlobStore }] = await Promise.all([
      import("./service.js"),
      import("#blobs/open.js"),
    ]);
    const blobs = await openBlobStore(blobConfig(env));
    const { impl, close } = createOcrService({ ...ocrConfig(env), blobs });
    return {
      services: [register(OcrService, impl)],
      async stop() {
        await close();
        await blobs.close();
      },
    };
  },
  deploy: {
    memory: "2Gi",
    summary: "OcrService: stateless, scaled by CPU; pages are read by a bounded pool of Tesseract workers.",
  },
});
