/**
 * PdfService: Merge, GetInfo and ExtractText, each on the sandbox threads (worker.ts), bounded in
 * time and memory, so a hostile document costs its caller's call and no one else's.
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { type BlobStore, fileBytes, fileOut } from "#blobs/index.js";
import { type Document, ImageFormat, type PdfService, TextPosition } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { check } from "#runtime/errors.js";
import { createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import type { Input, PdfResult, PdfTask, Stamp } from "./worker.js";

/** Options for createPdfService. */
export interface PdfServiceOptions {
  /** Bounds on the threads documents are handled on. */
  sandbox?: SandboxLimits;
  /** Where blob_id documents are read from and large results are kept. */
  blobs?: BlobStore;
}

const positions: Partial<Record<TextPosition, Stamp["position"]>> = {
  [TextPosition.UNSPECIFIED]: "center",
  [TextPosition.CENTER]: "center",
  [TextPosition.TOP_LEFT]: "top_left",
  [TextPosition.TOP_CENTER]: "top_center",
  [TextPosition.TOP_RIGHT]: "top_right",
  [TextPosition.BOTTOM_LEFT]: "bottom_left",
  [TextPosition.BOTTOM_CENTER]: "bottom_center",
  [TextPosition.BOTTOM_RIGHT]: "bottom_right",
};
/** Longest metadata value written. */
const maxMetadataChars = 10_000;
/** Most documents one merge takes. */
const maxDocuments = 100;
/** Most pages one RenderPages call draws. */
const maxRendered = 100;
/** Largest page image drawn: 50 megapixels (A4 at 600 dpi is 35). */
export const maxPagePixels = 50_000_000;
/** Most bytes of images one answer carries (under the 32 MiB message limit, with room for the rest). */
const maxAnswerBytes = 30 * 1024 * 1024;

const formats: Record<number, "png" | "jpeg"> = {
  [ImageFormat.UNSPECIFIED]: "png",
  [ImageFormat.PNG]: "png",
  [ImageFormat.JPEG]: "jpeg",
};

const pageList = (text: string) => ({ text, field: "pages" });

/** Creates the PdfService implementation and the thread pool its work runs on. */
export function createPdfService(options: PdfServiceOptions = {}): {
  impl: ServiceImpl<typeof PdfService>;
  close(): Promise<void>;
} {
  const sandbox = createSandbox<PdfTask, PdfResult>({
    timeMs: 30_000,
    heapMib: 512,
    threads: 2,
    ...options.sandbox,
    filename: new URL("./worker.ts", import.meta.url),
    field: "document",
  });
  const run = sandbox.answer;
  const blobs = options.blobs;

  /** A request's document as the worker's input: its bytes, or its blob's; refuses neither, naming the field. */
  async function inputOf(document: Document | undefined, field: string, ctx: HandlerContext): Promise<Input> {
    const data = await fileBytes(document?.source, field, ctx, blobs);
    return { data, field: document?.source.case === "blobId" ? `${field}.blob_id` : `${field}.data` };
  }

  /** A result document: inline, or a blob when it is larger than the store answers inline. */
  const asDocument = async (data: Uint8Array, ctx: HandlerContext) => ({
    source: await fileOut(data, { contentType: "application/pdf", filename: "document.pdf" }, ctx, blobs),
  });

  const impl: ServiceImpl<typeof PdfService> = {
    async merge(req, ctx) {
      check(req.documents.length >= 2, "documents", "needs at least two documents");
      check(req.documents.length <= maxDocuments, "documents", `takes at most ${maxDocuments} documents`);
      const documents = await Promise.all(req.documents.map((d, i) => inputOf(d, `documents[${i}]`, ctx)));
      const { merged, pageCount } = await run({ kind: "merge", documents }, ctx, "documents", "merged");
      return { document: await asDocument(merged, ctx), pageCount };
    },

    async split(req, ctx) {
      const document = await inputOf(req.document, "document", ctx);
      const by = req.by;
      check(by.case !== undefined, "ranges", "is required (or every)");
      if (by.case === "every") check(by.value >= 1, "every", "must be at least 1");
      const task: PdfTask =
        by.case === "ranges"
          ? { kind: "split", document, ranges: { text: by.value, field: "ranges" } }
          : { kind: "split", document, every: by.value };
      const { parts } = await run(task, ctx, "document", "parts");
      return { documents: await Promise.all(parts.map((p) => asDocument(p, ctx))) };
    },

    async selectPages(req, ctx) {
      check(req.pages.trim() !== "", "pages", "is required, e.g. 3,1,1-2");
      const task = {
        kind: "select" as const,
        document: await inputOf(req.document, "document", ctx),
        pages: pageList(req.pages),
      };
      const { parts, pageCounts } = await run(task, ctx, "document", "parts");
      return { document: await asDocument(parts[0], ctx), pageCount: pageCounts[0] };
    },

    async removePages(req, ctx) {
      check(req.pages.trim() !== "", "pages", "is required, e.g. 2,5-7");
      const task = {
        kind: "remove" as const,
        document: await inputOf(req.document, "document", ctx),
        pages: pageList(req.pages),
      };
      const { parts, pageCounts } = await run(task, ctx, "document", "parts");
      return { document: await asDocument(parts[0], ctx), pageCount: pageCounts[0] };
    },

    async rotatePages(req, ctx) {
      check(req.degrees !== 0 && req.degrees % 90 === 0, "degrees", "must be a non-zero multiple of 90");
      const pages = req.pages.trim() === "" ? undefined : pageList(req.pages);
      const task = {
        kind: "rotate" as const,
        document: await inputOf(req.document, "document", ctx),
        pages,
        degrees: req.degrees,
      };
      const [part] = (await run(task, ctx, "document", "parts")).parts;
      return { document: await asDocument(part, ctx) };
    },

    async setMetadata(req, ctx) {
      const m = req.metadata;
      check(m !== undefined, "metadata", "is required");
      for (const key of ["title", "author", "subject", "keywords", "creator", "producer"] as const)
        check(m[key].length <= maxMetadataChars, `metadata.${key}`, `must be at most ${maxMetadataChars} characters`);
      const metadata = {
        title: m.title,
        author: m.author,
        subject: m.subject,
        keywords: m.keywords,
        creator: m.creator,
        producer: m.producer,
        creationTime: m.creationTime ? timestampMs(m.creationTime) : undefined,
        modificationTime: m.modificationTime ? timestampMs(m.modificationTime) : undefined,
      };
      const task = { kind: "metadata" as const, document: await inputOf(req.document, "document", ctx), metadata };
      const { parts } = await run(task, ctx, "document", "parts");
      return { document: await asDocument(parts[0], ctx) };
    },

    async addText(req, ctx) {
      check(req.text.trim() !== "", "text", "is required");
      check(req.text.length <= 500 && !/[\r\n]/.test(req.text), "text", "must be one line of at most 500 characters");
      const position = positions[req.position];
      check(position !== undefined, "position", `unknown position ${req.position}`);
      const center = position === "center";
      const fontSize = req.fontSize || (center ? 48 : 12);
      check(fontSize >= 4 && fontSize <= 400, "font_size", "must be from 4 to 400 points");
      const opacity = req.opacity || (center ? 0.3 : 1);
      check(opacity > 0 && opacity <= 1, "opacity", "must be above 0 and at most 1");
      const rotation = req.rotation ?? (center ? 45 : 0);
      check(Number.isFinite(rotation) && Math.abs(rotation) <= 360, "rotation", "must be from -360 to 360 degrees");
      const stamp = {
        text: req.text,
        position,
        pages: req.pages.trim() === "" ? undefined : pageList(req.pages),
        fontSize,
        opacity,
        rotation,
      };
      const task = { kind: "stamp" as const, document: await inputOf(req.document, "document", ctx), stamp };
      const { parts } = await run(task, ctx, "document", "parts");
      return { document: await asDocument(parts[0], ctx) };
    },

    async renderPages(req, ctx) {
      const document = await inputOf(req.document, "document", ctx);
      const dpi = req.dpi || 150;
      check(dpi >= 36 && dpi <= 600, "dpi", "must be from 36 to 600");
      check(req.format in formats, "format", `unknown format ${req.format}`);
      const format = formats[req.format];
      const quality = req.quality || 85;
      check(quality >= 1 && quality <= 100, "quality", "must be from 1 to 100");
      const pages = req.pages.trim() === "" ? undefined : pageList(req.pages);
      const { listed } = await run({ kind: "pages", document, pages }, ctx, "document", "listed");
      check(
        listed.indices.length <= maxRendered,
        "pages",
        `names ${listed.indices.length} pages; at most ${maxRendered} are rendered a call`,
      );
      const render = { dpi, format, quality, maxPixels: maxPagePixels, field: "dpi" };
      // Pages are drawn side by side on the sandbox threads.
      const drawn = await Promise.all(
        listed.indices.map((index) => run({ kind: "render", document, index, render }, ctx, "document", "image")),
      );
      // Too much for one answer: every image a blob (with a store), or refused (without).
      const bytes = drawn.reduce((sum, d) => sum + d.image.length, 0);
      const spill = bytes > maxAnswerBytes;
      check(
        !spill || blobs !== undefined,
        "pages",
        `the images come to ${(bytes / 2 ** 20).toFixed(1)} MiB, more than one answer carries: ask for fewer pages or a lower dpi`,
      );
      const contentType = `image/${format}`;
      const rendered = drawn.map(async (d, i) => {
        const page = listed.indices[i] + 1;
        const meta = { contentType, filename: `page-${page}.${format === "jpeg" ? "jpg" : "png"}` };
        const source = await fileOut(d.image, meta, ctx, blobs, spill);
        return { page, width: d.width, height: d.height, image: { source, contentType } };
      });
      return { pages: await Promise.all(rendered) };
    },

    async getInfo(req, ctx) {
      const { info } = await run(
        { kind: "info", document: await inputOf(req.document, "document", ctx) },
        ctx,
        "document",
        "info",
      );
      const { creationTime, modificationTime, ...text } = info.metadata;
      return {
        pageCount: info.pageCount,
        pages: info.pages,
        metadata: {
          title: text.title ?? "",
          author: text.author ?? "",
          subject: text.subject ?? "",
          keywords: text.keywords ?? "",
          creator: text.creator ?? "",
          producer: text.producer ?? "",
          creationTime: creationTime === undefined ? undefined : timestampFromMs(creationTime),
          modificationTime: modificationTime === undefined ? undefined : timestampFromMs(modificationTime),
        },
      };
    },

    async extractText(req, ctx) {
      const document = await inputOf(req.document, "document", ctx);
      const { pages } = await run({ kind: "text", document }, ctx, "document", "pages");
      return { pages: pages.map((text, i) => ({ page: i + 1, text })) };
    },
  };
  return { impl, close: () => sandbox.close() };
}
