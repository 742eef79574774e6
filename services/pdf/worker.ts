/**
 * Runs in a sandbox thread (lib/runtime/sandbox.ts): one PDF read or assembled with pdf-lib, or
 * its text extracted with pdf.js (through unpdf). A document that cannot be read comes back as a
 * refusal naming its field.
 */
import { PDFDocument } from "pdf-lib";
import { extractText } from "unpdf";
import { markStarted, type Refused, type SandboxTask } from "#runtime/sandbox-worker.js";

/** A document's bytes and the request field they came in. */
export interface Input {
  data: Uint8Array;
  field: string;
}

/** Every task the PDF sandbox runs. */
export type PdfTask =
  | { kind: "merge"; documents: Input[] }
  | { kind: "info"; document: Input }
  | { kind: "text"; document: Input };

/** A document's information. */
export interface Info {
  pageCount: number;
  pages: { width: number; height: number; rotation: number }[];
  metadata: {
    title?: string;
    author?: string;
    subject?: string;
    keywords?: string;
    creator?: string;
    producer?: string;
    creationTime?: number;
    modificationTime?: number;
  };
}

/** What comes back. */
export type PdfResult = { merged: Uint8Array; pageCount: number } | { info: Info } | { pages: string[] } | Refused;

/** Thrown for a document that cannot be used; the message names what is wrong with it. */
class Unusable extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const pdfHeader = Buffer.from("%PDF-");

async function load(input: Input): Promise<PDFDocument> {
  // The header may follow up to 1 KiB of junk (the PDF specification's allowance).
  if (Buffer.from(input.data.subarray(0, 1024)).indexOf(pdfHeader) < 0)
    throw new Unusable(input.field, "is not a PDF (no %PDF- header)");
  let doc: PDFDocument;
  let pages: number;
  try {
    doc = await PDFDocument.load(input.data, { updateMetadata: false });
    // pdf-lib parses leniently: a file without a readable page tree fails here, not at load.
    pages = doc.getPageCount();
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/encrypted/i.test(message)) throw new Unusable(input.field, "is encrypted; decrypt it first");
    throw new Unusable(input.field, `cannot be read as a PDF: ${message.split("\n")[0]}`);
  }
  if (pages === 0) throw new Unusable(input.field, "cannot be read as a PDF: it has no pages");
  return doc;
}

async function merge(documents: Input[]): Promise<PdfResult> {
  const merged = await PDFDocument.create();
  for (const input of documents) {
    const doc = await load(input);
    for (const page of await merged.copyPages(doc, doc.getPageIndices())) merged.addPage(page);
  }
  return { merged: await merged.save(), pageCount: merged.getPageCount() };
}

async function info(input: Input): Promise<PdfResult> {
  const doc = await load(input);
  const pages = doc.getPages().map((page) => {
    const { width, height } = page.getSize();
    const rotation = (((page.getRotation().angle % 360) + 360) % 360) as number;
    const turned = rotation === 90 || rotation === 270;
    return { width: turned ? height : width, height: turned ? width : height, rotation };
  });
  return {
    info: {
      pageCount: doc.getPageCount(),
      pages,
      metadata: {
        title: doc.getTitle(),
        author: doc.getAuthor(),
        subject: doc.getSubject(),
        keywords: doc.getKeywords(),
        creator: doc.getCreator(),
        producer: doc.getProducer(),
        creationTime: doc.getCreationDate()?.getTime(),
        modificationTime: doc.getModificationDate()?.getTime(),
      },
    },
  };
}

async function text(input: Input): Promise<PdfResult> {
  await load(input); // the same checks and messages as every other operation
  const { text: pages } = await extractText(new Uint8Array(input.data), { mergePages: false });
  return { pages };
}

/** Runs one task. */
export default async function run(task: SandboxTask<PdfTask>): Promise<PdfResult> {
  markStarted(task);
  try {
    switch (task.kind) {
      case "merge":
        return await merge(task.documents);
      case "info":
        return await info(task.document);
      case "text":
        return await text(task.document);
    }
  } catch (err) {
    if (err instanceof Unusable) return { error: err.message, field: err.field };
    const field = task.kind === "merge" ? "documents" : "document.data";
    return { error: `cannot be processed: ${(err as Error).message ?? String(err)}`, field };
  }
}
