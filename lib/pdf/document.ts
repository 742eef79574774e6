/**
 * What every PDF task starts from: a document's bytes as a request field holds them, loaded by
 * pdf-lib with the checks and refusals every operation shares, and page lists read against it.
 * Runs in the sandbox threads (worker.ts and the task modules beside it).
 */
import { inflateSync } from "node:zlib";
import {
  decodePDFRawStream,
  PDFArray,
  PDFDocument,
  PDFName,
  type PDFObject,
  PDFRawStream,
  ParseSpeeds,
  type SaveOptions,
} from "pdf-lib";

/** A document's bytes and the request field they came in. */
export interface Input {
  data: Uint8Array;
  field: string;
}

/** Page numbers given as ranges (`1-3,5`) and the request field they came in. */
export interface PageList {
  text: string;
  field: string;
}

/** Thrown for a document that cannot be used; the message names what is wrong with it. */
export class Unusable extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const pdfHeader = Buffer.from("%PDF-");

/*
 * pdf-lib yields to the event loop every 100 objects it parses and every 50 it writes (a
 * `setTimeout` each time, about 20 ms of idle in a 200-page merge) so that a shared main thread
 * stays responsive. A sandbox thread runs one task and nothing else, and its time limit is
 * enforced from outside: it reads and writes in one go.
 */

/** `doc.save`, without pdf-lib's yielding. */
export const save = (doc: PDFDocument, options: SaveOptions = {}): Promise<Uint8Array> =>
  doc.save({ objectsPerTick: Infinity, ...options });

/** `PDFDocument.load` of bytes this service wrote itself (no checks), without pdf-lib's yielding. */
export const loadOwn = (data: Uint8Array): Promise<PDFDocument> =>
  PDFDocument.load(data, { parseSpeed: ParseSpeeds.Fastest });

export async function load(input: Input): Promise<PDFDocument> {
  // The header may follow up to 1 KiB of junk (the PDF specification's allowance).
  if (Buffer.from(input.data.subarray(0, 1024)).indexOf(pdfHeader) < 0)
    throw new Unusable(input.field, "is not a PDF (no %PDF- header)");
  let doc: PDFDocument;
  let pages: number;
  try {
    doc = await PDFDocument.load(input.data, { updateMetadata: false, parseSpeed: ParseSpeeds.Fastest });
    // pdf-lib parses leniently: a file without a readable page tree fails here, not at load.
    pages = doc.getPageCount();
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (err instanceof RangeError && /call stack/.test(message))
      throw new Unusable(input.field, "cannot be read as a PDF: its page tree is nested too deep or refers to itself");
    if (/encrypted/i.test(message))
      throw new Unusable(input.field, "is encrypted: decrypt it first (PdfService/Decrypt, with its password)");
    // pdf-lib's parse errors say what is wrong; a TypeError is its own code tripping over a file cut
    // short or damaged, whose text ("Cannot read properties of undefined") means nothing to a caller.
    const reason = err instanceof TypeError ? "it is damaged or incomplete" : message.split("\n")[0];
    throw new Unusable(input.field, `cannot be read as a PDF: ${reason}`);
  }
  if (pages === 0) throw new Unusable(input.field, "cannot be read as a PDF: it has no pages");
  return doc;
}

/** Most pages a page list may name (repeats count). */
const maxListed = 100_000;

/**
 * The 0-based page indices a list names, in its order (`3,1,1-2` → 2, 0, 0, 1); each range is a
 * group of its own. Refuses text that is not a list and pages outside the document, naming the field.
 */
export function pageGroups(list: PageList, pageCount: number): number[][] {
  const groups: number[][] = [];
  let listed = 0;
  for (const part of list.text.split(",").map((p) => p.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new Unusable(list.field, `"${part}" is not a page or a range such as 2-5`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to < from) throw new Unusable(list.field, `"${part}" is not a range of pages from 1`);
    if (to > pageCount) throw new Unusable(list.field, `"${part}" is outside the document's ${pageCount} pages`);
    listed += to - from + 1;
    if (listed > maxListed) throw new Unusable(list.field, `names more than ${maxListed} pages`);
    groups.push(Array.from({ length: to - from + 1 }, (_, i) => from - 1 + i));
  }
  return groups;
}

/** Largest a single compressed stream may expand to before the document counts as a bomb. */
export const maxInflatedBytes = 256 * 1024 * 1024;

/** Filters pdf-lib (and pdf.js) can undo before an image codec; the first three can expand. */
const expanding = new Set(["/FlateDecode", "/LZWDecode", "/RunLengthDecode"]);
const decodable = new Set([...expanding, "/ASCII85Decode", "/ASCIIHexDecode"]);

/** Thrown inside the check when a stage grows past the limit. */
class Bomb extends Error {}

/**
 * One filter undone, to at most `limit` bytes: Flate by zlib (bounded by `maxOutputLength`; one
 * deflate block can expand without end, so pdf-lib's own inflater is no guard), the others by
 * pdf-lib's decoders a megabyte at a time (an LZW block yields at most 2 MiB, a run 128 bytes).
 */
function undo(data: Uint8Array, filter: string, parms: PDFObject | undefined, limit: number): Uint8Array {
  if (filter === "/FlateDecode") {
    try {
      return inflateSync(data, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new Bomb();
      throw err;
    }
  }
  const dict = { lookup: (key: PDFName) => (key === PDFName.of("Filter") ? PDFName.of(filter.slice(1)) : parms) };
  const stream = decodePDFRawStream({ dict, contents: data } as unknown as PDFRawStream);
  const step = 2 ** 20;
  let size = 0;
  for (;;) {
    // Stop a step short of the limit, so the decoder's doubling buffer never passes it.
    if (size > limit - 4 * step) throw new Bomb();
    const got = stream.getBytes(step).length;
    if (got === 0) break;
    size += got;
  }
  stream.reset();
  return stream.getBytes(size) as Uint8Array;
}

/**
 * Refuses a decompression bomb before pdf.js expands it: every stream's filters are undone once,
 * stage by stage up to the first image codec, each stage bounded, and a stream that grows past
 * `maxInflatedBytes` at any stage names the document. (pdf.js keeps what it expands in
 * ArrayBuffers, which a thread's heap limit does not bound; a chain such as Flate over Flate
 * hides a bomb from a check of the first stage alone.) Operations that copy streams without
 * expanding them (merge, split) need no check.
 */
export function checkInflation(doc: PDFDocument, field: string, limit = maxInflatedBytes): void {
  for (const [, object] of doc.context.enumerateIndirectObjects()) {
    if (!(object instanceof PDFRawStream)) continue;
    const filter = object.dict.lookup(PDFName.of("Filter"));
    const parms = object.dict.lookup(PDFName.of("DecodeParms"));
    const stages = (filter instanceof PDFArray ? filter.asArray().map((f) => doc.context.lookup(f)) : [filter]).map(
      (stage) => (stage instanceof PDFName ? stage.asString() : ""),
    );
    // Undone up to the last stage that expands, and no further than an image codec.
    const last = stages.findLastIndex((name) => expanding.has(name));
    let data: Uint8Array = object.contents;
    for (let i = 0; i <= last && decodable.has(stages[i]); i++) {
      const name = stages[i];
      try {
        data = undo(data, name, parms instanceof PDFArray ? parms.lookup(i) : parms, limit);
      } catch (err) {
        if (err instanceof Bomb)
          throw new Unusable(field, `is a decompression bomb: a stream expands past ${limit / 2 ** 20} MiB`);
        break; // a damaged stream is pdf.js's to cope with (it skips what it cannot read)
      }
    }
  }
}

/** Largest image pdf.js decodes, in pixels (A4 at 600 dpi is 35 million); larger ones are skipped. */
export const maxImagePixels = 50_000_000;
