/**
 * PdfService: Merge, GetInfo and ExtractText, each on the sandbox threads (worker.ts), bounded in
 * time and memory, so a hostile document costs its caller's call and no one else's.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Document, PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { check } from "#runtime/errors.js";
import { createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import type { Input, PdfResult, PdfTask } from "./worker.js";

/** Options for createPdfService. */
export interface PdfServiceOptions {
  /** Bounds on the threads documents are handled on. */
  sandbox?: SandboxLimits;
}

/** Most documents one merge takes. */
const maxDocuments = 100;

/** A request's document as the worker's input; refuses one without bytes, naming the field. */
function inputOf(document: Document | undefined, field: string): Input {
  const data = document?.source.case === "data" ? document.source.value : undefined;
  check(data !== undefined && data.length > 0, `${field}.data`, "is required: the PDF's bytes");
  return { data, field: `${field}.data` };
}

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

  const impl: ServiceImpl<typeof PdfService> = {
    async merge(req, ctx) {
      check(req.documents.length >= 2, "documents", "needs at least two documents");
      check(req.documents.length <= maxDocuments, "documents", `takes at most ${maxDocuments} documents`);
      const documents = req.documents.map((d, i) => inputOf(d, `documents[${i}]`));
      const { merged, pageCount } = await run({ kind: "merge", documents }, ctx, "documents", "merged");
      return { document: { source: { case: "data", value: merged } }, pageCount };
    },

    async getInfo(req, ctx) {
      const { info } = await run(
        { kind: "info", document: inputOf(req.document, "document") },
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
      const document = inputOf(req.document, "document");
      const { pages } = await run({ kind: "text", document }, ctx, "document", "pages");
      return { pages: pages.map((text, i) => ({ page: i + 1, text })) };
    },
  };
  return { impl, close: () => sandbox.close() };
}
