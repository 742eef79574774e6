/** The OCR capability: text read from images and scanned PDFs. */
import { OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { defineCapability } from "#capability/index.js";
import { builtOnFirstCall } from "#capability/on-first-call.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";
import { num, str } from "envalid";

export default defineCapability({
  name: "ocr",
  services: [OcrService],
  settings: {
    OCR_ENGINE: str({
      choices: ["auto", "tesseract.js", "tesseract"],
      default: "auto",
      desc: "engine by default (auto: the native tesseract where it is installed, else tesseract.js)",
    }),
    OCR_CONCURRENCY: num({
      default: undefined,
      desc: "pages read at once; job items fill all but one (default: the CPUs plus one)",
    }),
    OCR_PAGE_TIMEOUT_MS: num({ default: 120_000, desc: "longest one page may take" }),
    TESSERACT_PATH: str({ default: "tesseract", desc: "the native tesseract program" }),
  },
  async create({ env, settings, logger }) {
    // The OCR engines, sharp and the PDF renderer load with the first call.
    const { impl, stop } = builtOnFirstCall(OcrService, async () => {
      const [{ createOcrService }, { withBlobStore }] = await Promise.all([
        import("./service.js"),
        import("#blobs/open.js"),
      ]);
      return withBlobStore(blobConfig(env), (blobs) =>
        createOcrService({
          defaultEngine: settings.OCR_ENGINE as "auto" | "tesseract.js" | "tesseract",
          concurrency: settings.OCR_CONCURRENCY,
          pageTimeMs: settings.OCR_PAGE_TIMEOUT_MS,
          tesseractProgram: settings.TESSERACT_PATH,
          blobs,
          logger,
        }),
      );
    });
    return { services: [register(OcrService, impl)], stop };
  },
  deploy: {
    memory: "2Gi",
    summary: "OcrService: stateless, scaled by CPU; pages are read by a bounded pool of Tesseract workers.",
  },
});
