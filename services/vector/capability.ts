/** The vector capability: collections of vectors with payloads, filtered and hybrid search, document ingestion. */
import { VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig, clean } from "#config/index.js";
import { str } from "envalid";

/** The vector service's settings (every variable is documented in the README). */
export function vectorConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = clean(env, {
    VECTOR_DATABASE_URL: str({ default: "", desc: "PostgreSQL with pgvector (default: DATABASE_URL)" }),
    LLM_ADDR: str({ default: "", desc: "the LLM service, for search by text and ingestion" }),
    PDF_ADDR: str({ default: "", desc: "the PDF service, for ingesting PDFs" }),
    OCR_ADDR: str({ default: "", desc: "the OCR service, for scanned pages" }),
  });
  return {
    databaseUrl: e.VECTOR_DATABASE_URL || undefined,
    llm: e.LLM_ADDR || undefined,
    pdf: e.PDF_ADDR || undefined,
    ocr: e.OCR_ADDR || undefined,
  };
}

export default defineCapability({
  name: "vector",
  services: [VectorService],
  uses: ["llm", "pdf", "ocr"],
  async create({ env, config: service, logger }) {
    const config = vectorConfig(env);
    const url = config.databaseUrl ?? service.database?.url;
    if (!url)
      throw new Error("the vector service needs PostgreSQL with pgvector: set DATABASE_URL or VECTOR_DATABASE_URL");
    const [
      { createVectorService },
      { createPgvectorStore, setupPgvector },
      { createIngester },
      { createSql },
      client,
      { unavailableStore },
    ] = await Promise.all([
      import("./service.js"),
      import("./pgvector.js"),
      import("./ingest.js"),
      import("#db/sql.js"),
      import("#capability/client.js"),
      import("./store.js"),
    ]);
    const [{ LlmService }, { PdfService }, { OcrService }, { withBlobStore }] = await Promise.all([
      import("#gen/flowforge/llm/v1/llm_pb.js"),
      import("#gen/flowforge/pdf/v1/pdf_pb.js"),
      import("#gen/flowforge/ocr/v1/ocr_pb.js"),
      import("#blobs/open.js"),
    ]);
    const sql = createSql(url, { max: service.database?.pool ?? 8, applicationName: "vector" });
    // A database without pgvector leaves the service up, answering what is missing.
    const missing = await setupPgvector(sql).then(
      () => undefined,
      (err: { code?: string; message?: string }) => {
        if (err.code !== "0A000" && !/extension "vector"/.test(err.message ?? "")) throw err;
        logger.error({ err }, "the database has no pgvector extension: VectorService answers failed_precondition");
        return "the vector service's database has no pgvector extension: point VECTOR_DATABASE_URL (or DATABASE_URL) at a PostgreSQL with pgvector";
      },
    );
    const llm = config.llm ? client.capabilityClient(LlmService, config.llm) : undefined;
    const { impl, stop } = await withBlobStore(blobConfig(env), (blobs) => ({
      impl: createVectorService({
        store: missing ? unavailableStore(missing) : createPgvectorStore(sql),
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
      close: () => sql.end(),
    }));
    return { services: [register(VectorService, impl)], stop };
  },
  deploy: {
    memory: "1Gi",
    summary: "VectorService: stateless (PostgreSQL with pgvector holds the vectors), scaled by CPU.",
  },
});
