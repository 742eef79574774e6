/**
 * Ingestion: documents in, searchable chunks out. A text is one page; a PDF's pages come from its
 * text layer (PdfService/ExtractText) and, with `ocr`, pages without one are read by
 * OcrService/RecognizePdf; the pages are cut into chunks by tokens or sentences with overlap,
 * embedded (LlmService/Embed) and upserted with `source`, `page` and `chunk` in their payload.
 * The services are called over gRPC as the caller's tenant.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { Client, HandlerContext } from "@connectrpc/connect";
import { encoding } from "#runtime/tokenizer.js";
import type { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import type { OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { Chunking_Unit, type IngestRequest, type IngestResponse } from "#gen/flowforge/vector/v1/vector_pb.js";
import { type BlobReader, fileBytes } from "#blobs/index.js";
import { progressKey } from "#runtime/context.js";
import { asCaller } from "#capability/client.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { CollectionSpec, PointIn } from "./store.js";

/** Bounds of one Ingest. */
export const ingestBounds = { documents: 1000, chunksPerDocument: 10_000, chunkSize: 8192, embedBatch: 64 };
/** Chunk sizes unless the request says. */
export const chunkDefaults = { tokens: { size: 400, overlap: 50 }, sentences: { size: 5, overlap: 1 } };

/** What an ingestion writes through. */
export interface IngestIo {
  embed(texts: string[]): Promise<number[][]>;
  upsert(points: PointIn[]): Promise<number>;
}

/** Turns documents into chunks and writes them. */
export interface Ingester {
  ingest(
    req: IngestRequest,
    collection: CollectionSpec,
    ctx: HandlerContext,
    io: IngestIo,
  ): Promise<
    Omit<IngestResponse, "$typeName" | "documents"> & { documents: { name: string; pages: number; chunks: number }[] }
  >;
}

/** Options for createIngester. */
export interface IngesterOptions {
  pdf?: Client<typeof PdfService>;
  ocr?: Client<typeof OcrService>;
  blobs?: BlobReader;
}

const tokens = () => encoding("o200k_base");

/** Cuts text into chunks of `size` tokens (or sentences) sharing `overlap`. */
export async function chunk(
  text: string,
  unit: "tokens" | "sentences",
  size: number,
  overlap: number,
): Promise<string[]> {
  const step = size - overlap;
  if (unit === "sentences") {
    const sentences = [...new Intl.Segmenter(undefined, { granularity: "sentence" }).segment(text)]
      .map((s) => s.segment)
      .filter((s) => s.trim() !== "");
    const out: string[] = [];
    for (let start = 0; start < sentences.length; start += step) {
      out.push(
        sentences
          .slice(start, start + size)
          .join("")
          .trim(),
      );
      if (start + size >= sentences.length) break;
    }
    return out;
  }
  const enc = await tokens();
  const ids = enc.encode(text, "all");
  const out: string[] = [];
  for (let start = 0; start < ids.length; start += step) {
    out.push(enc.decode(ids.slice(start, start + size)).trim());
    if (start + size >= ids.length) break;
  }
  return out.filter((c) => c !== "");
}

const isPdf = (b: Uint8Array) => b.length > 4 && Buffer.from(b.subarray(0, 5)).toString("latin1") === "%PDF-";

/** Creates the ingester. */
export function createIngester(options: IngesterOptions): Ingester {
  /** A document's pages of text. */
  async function pagesOf(req: IngestRequest, i: number, ctx: HandlerContext) {
    const doc = req.documents[i];
    const field = `documents[${i}]`;
    const as = asCaller(ctx);
    if (doc.source.case === "text") {
      check(doc.source.value.trim() !== "", `${field}.text`, "is empty");
      return [{ page: 1, text: doc.source.value }];
    }
    check(doc.source.case === "file", field, "needs text or file");
    const file = doc.source.value!;
    const bytes = await fileBytes(file.source, `${field}.file`, ctx, options.blobs);
    if (!isPdf(bytes)) {
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        throw invalidArgument(`${field}.file`, "must be a PDF or UTF-8 text");
      }
      return [{ page: 1, text }];
    }
    check(options.pdf !== undefined, `${field}.file`, "PDFs need the PDF service (PDF_ADDR)");
    const document = { source: { case: "data" as const, value: bytes } };
    const { pages } = await options.pdf!.extractText({ document }, as);
    const out = pages.map((p) => ({ page: p.page, text: p.text }));
    const blank = out.filter((p) => p.text.trim() === "").map((p) => p.page);
    if (req.ocr && blank.length > 0) {
      check(options.ocr !== undefined, `${field}.file`, "scanned pages need the OCR service (OCR_ADDR)");
      const read = await options.ocr!.recognizePdf({ document, pages: blank.join(",") }, as);
      for (const p of read.pages) {
        const page = out.find((o) => o.page === p.page);
        if (page) page.text = p.text;
      }
    }
    return out.filter((p) => p.text.trim() !== "");
  }

  return {
    async ingest(req, collection, ctx, io) {
      const unit = req.chunking?.unit === Chunking_Unit.SENTENCES ? "sentences" : "tokens";
      const size = req.chunking?.size || chunkDefaults[unit].size;
      const overlap = req.chunking?.overlap ?? (req.chunking?.size ? 0 : chunkDefaults[unit].overlap);
      check(
        size >= 1 && size <= ingestBounds.chunkSize,
        "chunking.size",
        `must be from 1 to ${ingestBounds.chunkSize}`,
      );
      check(overlap < size, "chunking.overlap", "must be less than size");
      const progress = ctx.values.get(progressKey);
      const documents = [];
      const ids: string[] = [];
      for (const [i, doc] of req.documents.entries()) {
        const name = doc.name || `document-${i}`;
        const pages = await pagesOf(req, i, ctx);
        const points: Omit<PointIn, "vector">[] = [];
        for (const page of pages)
          (await chunk(page.text, unit, size, overlap)).forEach((text, n) => {
            const payload: JsonObject = { ...(doc.payload ?? {}), source: name, page: page.page, chunk: n };
            points.push({ id: `${name}#${page.page}-${n}`, payload, text });
          });
        check(
          points.length <= ingestBounds.chunksPerDocument,
          `documents[${i}]`,
          `makes ${points.length} chunks, over ${ingestBounds.chunksPerDocument}: use larger chunks`,
        );
        const vectors: number[][] = [];
        for (let s = 0; s < points.length; s += ingestBounds.embedBatch)
          vectors.push(...(await io.embed(points.slice(s, s + ingestBounds.embedBatch).map((p) => p.text))));
        if (vectors.length > 0)
          check(
            vectors[0].length === collection.dimension,
            "embedding_model",
            `makes ${vectors[0].length}-dimensional vectors; the collection's are ${collection.dimension}`,
          );
        if (points.length > 0) await io.upsert(points.map((p, n) => ({ ...p, vector: vectors[n] })));
        ids.push(...points.map((p) => p.id));
        documents.push({ name, pages: pages.length, chunks: points.length });
        progress({ message: `${name}: ${points.length} chunks`, fraction: (i + 1) / req.documents.length });
      }
      return { documents, ids };
    },
  };
}
