/** The OCR capability: text read from images and scanned PDFs. */
import { OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig, ocrConfig } from "#config/index.js";

export default defineCapability({
  name: "ocr",
  services: [OcrService],
  async create({ env, logger }) {
    const [{ createOcrService }, { withBlobStore }] = await Promise.all([
      import("./service.js"),
      import("#blobs/open.js"),
    ]);
    const { impl, stop } = await withBlobStore(blobConfig(env), (blobs) =>
      createOcrService({ ...ocrConfig(env), blobs, logger }),
    );
    return { services: [register(OcrService, impl)], stop };
  },
  deploy: {
    memory: "2Gi",
    summary: "OcrService: stateless, scaled by CPU; pages are read by a bounded pool of Tesseract workers.",
  },
});
