/** The vector capability: collections of vectors with payloads, filtered and hybrid search, document ingestion. */
import { VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";
import { str } from "envalid";
import type { Logger } from "#runtime/logger.js";

/** The pgvector store in the database at `url`; one without the extension leaves the service up, answering what is missing. */
async function pgvector(url: string | undefined, pool: number, logger: Logger) {
  if (!url)
    throw new Error(
      "the vector service needs PostgreSQL with pgvector (DATABASE_URL or VECTOR_DATABASE_URL) or Qdrant (QDRANT_URL)",
    );
  const [{ createPgvectorStore, setupPgvector }, { createSql }, { unavailableStore }] = await Promise.all([
    import("./pgvector.js"),
    import("#db/sql.js"),
    import("./store.js"),
  ]);
  const sql = createSql(url, { max: pool, applicationName: "vector" });
  const missing = await setupPgvector(sql).then(
    () => undefined,
    (err: { code?: string; message?: string }) => {
      if (err.code !== "0A000" && !/extension "vector"/.test(err.message ?? "")) throw err;
      logger.error({ err }, "the database has no pgvector extension: VectorService answers failed_precondition");
      return "the vector service's database has no pgvector extension: point VECTOR_DATABASE_URL (or DATABASE_URL) at a PostgreSQL with pgvector, or QDRANT_URL at Qdrant";
    },
  );
  return { store: missing ? unavailableStore(missing) : createPgvectorStore(sql), close: () => sql.end() };
}

export default defineCapability({
  name: "vector",
  services: [VectorService],
  uses: ["llm", "pdf", "ocr"],
  settings: {
    VECTOR_DATABASE_URL: str({ default: "", desc: "PostgreSQL with pgvector (default: DATABASE_URL)" }),
    QDRANT_URL: str({ default: "", desc: "a Qdrant server to hold the vectors instead of pgvector" }),
    QDRANT_API_KEY: str({ default: "", desc: "Qdrant's API key, when it asks for one" }),
    LLM_ADDR: str({ default: "", desc: "the LLM service, for search by text and ingestion" }),
    PDF_ADDR: str({ default: "", desc: "the PDF service, for ingesting PDFs" }),
    OCR_ADDR: str({ default: "", desc: "the OCR service, for scanned pages" }),
  },
  async create({ env, settings: e, config: service, logger }) {
    const config = {
      databaseUrl: e.VECTOR_DATABASE_URL || undefined,
      qdrant: e.QDRANT_URL ? { url: e.QDRANT_URL, apiKey: e.QDRANT_API_KEY || undefined } : undefined,
      llm: e.LLM_ADDR || undefined,
      pdf: e.PDF_ADDR || undefined,
      ocr: e.OCR_ADDR || undefined,
    };
    const [{ createVectorService }, { createIngester }, client] = await Promise.all([
      import("./service.js"),
      import("./ingest.js"),
      import("#capability/client.js"),
    ]);
    const [{ LlmService }, { PdfService }, { OcrService }, { withBlobStore }] = await Promise.all([
      import("#gen/flowforge/llm/v1/llm_pb.js"),
      import("#gen/flowforge/pdf/v1/pdf_pb.js"),
      import("#gen/flowforge/ocr/v1/ocr_pb.js"),
      import("#blobs/open.js"),
    ]);
    const { store, close } = config.qdrant
      ? { store: (await import("./qdrant.js")).createQdrantStore(config.qdrant), close: async () => {} }
      : await pgvector(config.databaseUrl ?? service.database?.url, service.database?.pool ?? 8, logger);
    const llm = config.llm ? client.capabilityClient(LlmService, config.llm) : undefined;
    const { impl, stop } = await withBlobStore(blobConfig(env), (blobs) => ({
      impl: createVectorService({
        store,
        embed: llm
          ? async (texts, model, ctx) =>
              (await llm.embed({ texts, model }, client.asCaller(ctx))).embeddings.map((e) => e.values)
          : undefined,
        ingester: createIngester({
          pdf: config.pdf ? client.capabilityClient(PdfService, config.pdf) : undefined,
          ocr: config.ocr ? client.capabilityClient(OcrService, config.ocr) : undefined,
          blobs,
        }),
      }),
      close,
    }));
    return { services: [register(VectorService, impl)], stop };
  },
  deploy: {
    memory: "1Gi",
    summary: "VectorService: stateless (PostgreSQL with pgvector holds the vectors), scaled by CPU.",
  },
});
