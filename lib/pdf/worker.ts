/**
 * Runs in a sandbox thread (lib/runtime/sandbox.ts) of the PDF service, or of the OCR service for
 * the pages it reads: one PDF read or assembled with pdf-lib, or its text extracted or a page
 * drawn with pdf.js (through unpdf). A document that cannot be read comes back as a
 * refusal naming its field.
 */
import "./pdfjs.js";
import { PDFDocument, StandardFonts, degrees, grayscale } from "pdf-lib";
import { createIsomorphicCanvasFactory, extractText, getDocumentProxy } from "unpdf";
import { markStarted, type Refused, type SandboxTask } from "#runtime/sandbox-worker.js";
import {
  checkInflation,
  type Input,
  load,
  loadOwn,
  maxImagePixels,
  type PageList,
  pageGroups,
  save,
  Unusable,
} from "./document.js";
import { markdownToPdf } from "./markdown.js";
import {
  embeddedImages,
  type Field,
  fillForm,
  flattenForm,
  formFields,
  type ImageStamp,
  type ImageStream,
  imageStreams,
  imagesToPdf,
  type PageImage,
  replaceImages,
  stampImage,
} from "./edit.js";

export { type Input, type PageList, pageGroups } from "./document.js";

/** Every task the PDF sandbox runs. */
export type PdfTask =
  | { kind: "merge"; documents: Input[] }
  | { kind: "info"; document: Input }
  | { kind: "text"; document: Input }
  | { kind: "split"; document: Input; ranges?: PageList; every?: number }
  | { kind: "select"; document: Input; pages: PageList }
  | { kind: "remove"; document: Input; pages: PageList }
  | { kind: "rotate"; document: Input; pages?: PageList; degrees: number }
  | { kind: "metadata"; document: Input; metadata: Info["metadata"] }
  | { kind: "stamp"; document: Input; stamp: Stamp }
  | { kind: "pages"; document: Input; pages?: PageList; withText?: boolean }
  | { kind: "render"; document: Input; index: number; render: Render }
  | { kind: "compose"; source?: Input; parts: ({ data: Uint8Array } | { page: number })[] }
  | { kind: "images"; document: Input; pages?: PageList; minSize: number; maxPixels: number }
  | { kind: "stampImage"; document: Input; stamp: ImageStamp }
  | { kind: "fields"; document: Input }
  | { kind: "fill"; document: Input; values: Record<string, string>; flatten: boolean }
  | { kind: "flatten"; document: Input }
  | { kind: "fromImages"; images: PageImage[] }
  | { kind: "imageStreams"; document: Input; minBytes: number }
  | { kind: "replaceImages"; document: Input; replacements: Parameters<typeof replaceImages>[1] }
  | { kind: "markdown"; markdown: string; pageSize: "A4" | "LETTER"; title: string }
  | { kind: "count"; document: Input };

/** How a page is rendered to an image. */
export interface Render {
  dpi: number;
  format: "png" | "jpeg";
  /** JPEG quality, 1 to 100. */
  quality: number;
  /** Largest image drawn, in pixels; a page that would be larger is refused, naming `field`. */
  maxPixels: number;
  field: string;
}

/** Text AddText puts on pages. */
export interface Stamp {
  text: string;
  position: "center" | `${"top" | "bottom"}_${"left" | "center" | "right"}`;
  pages?: PageList;
  fontSize: number;
  opacity: number;
  rotation: number;
}

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
export type PdfResult =
  | { merged: Uint8Array; pageCount: number }
  | { info: Info }
  | { pages: string[] }
  | { parts: Uint8Array[]; pageCounts: number[] }
  | { listed: { pageCount: number; indices: number[]; texts?: string[] } }
  | { image: Uint8Array; width: number; height: number }
  | Awaited<ReturnType<typeof embeddedImages>>
  | { fields: Field[] }
  | { streams: ImageStream[] }
  | Refused;

/** A new document of `indices`' pages of `doc`, in that order. */
async function pagesOf(doc: PDFDocument, indices: number[]): Promise<Uint8Array> {
  const out = await PDFDocument.create();
  for (const page of await out.copyPages(doc, indices)) out.addPage(page);
  return save(out);
}

/** Documents made of these page groups of `doc`. */
async function partsOf(doc: PDFDocument, groups: number[][]): Promise<PdfResult> {
  const parts: Uint8Array[] = [];
  for (const group of groups) parts.push(await pagesOf(doc, group));
  return { parts, pageCounts: groups.map((g) => g.length) };
}

async function split(task: Extract<PdfTask, { kind: "split" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  const count = doc.getPageCount();
  const groups = task.ranges
    ? pageGroups(task.ranges, count)
    : Array.from({ length: Math.ceil(count / task.every!) }, (_, g) =>
        doc.getPageIndices().slice(g * task.every!, (g + 1) * task.every!),
      );
  return partsOf(doc, groups);
}

async function select(task: Extract<PdfTask, { kind: "select" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  return partsOf(doc, [pageGroups(task.pages, doc.getPageCount()).flat()]);
}

async function remove(task: Extract<PdfTask, { kind: "remove" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  const dropped = new Set(pageGroups(task.pages, doc.getPageCount()).flat());
  const kept = doc.getPageIndices().filter((i) => !dropped.has(i));
  if (kept.length === 0) throw new Unusable(task.pages.field, "would remove every page");
  return partsOf(doc, [kept]);
}

async function rotate(task: Extract<PdfTask, { kind: "rotate" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  const chosen = task.pages ? new Set(pageGroups(task.pages, doc.getPageCount()).flat()) : undefined;
  for (const [i, page] of doc.getPages().entries()) {
    if (chosen && !chosen.has(i)) continue;
    page.setRotation(degrees((((page.getRotation().angle + task.degrees) % 360) + 360) % 360));
  }
  return { parts: [await save(doc)], pageCounts: [doc.getPageCount()] };
}

async function setMetadata(task: Extract<PdfTask, { kind: "metadata" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  const m = task.metadata;
  if (m.title) doc.setTitle(m.title);
  if (m.author) doc.setAuthor(m.author);
  if (m.subject) doc.setSubject(m.subject);
  if (m.keywords) doc.setKeywords(m.keywords.split(/[,;]\s*/).filter(Boolean));
  if (m.creator) doc.setCreator(m.creator);
  if (m.producer) doc.setProducer(m.producer);
  if (m.creationTime !== undefined) doc.setCreationDate(new Date(m.creationTime));
  if (m.modificationTime !== undefined) doc.setModificationDate(new Date(m.modificationTime));
  return { parts: [await save(doc)], pageCounts: [doc.getPageCount()] };
}

/** How far from the page's edge headers and footers sit, in points. */
const margin = 36;

async function stamp(task: Extract<PdfTask, { kind: "stamp" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  const s = task.stamp;
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const total = doc.getPageCount();
  const chosen = s.pages ? new Set(pageGroups(s.pages, total).flat()) : undefined;
  for (const [i, page] of doc.getPages().entries()) {
    if (chosen && !chosen.has(i)) continue;
    // Helvetica (WinAnsi) cannot draw every character: those it cannot are left out.
    const text = [...s.text.replaceAll("{page}", String(i + 1)).replaceAll("{pages}", String(total))]
      .filter((c) => {
        try {
          font.encodeText(c);
          return true;
        } catch {
          return false;
        }
      })
      .join("");
    const width = font.widthOfTextAtSize(text, s.fontSize);
    const { width: pw, height: ph } = page.getSize();
    const [vertical, horizontal] = s.position === "center" ? ["center", "center"] : s.position.split("_");
    const x = horizontal === "left" ? margin : horizontal === "right" ? pw - margin - width : (pw - width) / 2;
    const y = vertical === "top" ? ph - margin - s.fontSize : vertical === "bottom" ? margin : ph / 2;
    // Rotated text turns about its start: shift it so that its middle stays where it was placed.
    const rad = (s.rotation * Math.PI) / 180;
    const dx = s.position === "center" ? (width / 2) * (1 - Math.cos(rad)) : 0;
    const dy = s.position === "center" ? -(width / 2) * Math.sin(rad) : 0;
    page.drawText(text, {
      x: x + dx,
      y: y + dy,
      size: s.fontSize,
      font,
      color: grayscale(0.4),
      opacity: s.opacity,
      rotate: degrees(s.rotation),
    });
  }
  return { parts: [await save(doc)], pageCounts: [total] };
}

async function merge(documents: Input[]): Promise<PdfResult> {
  const merged = await PDFDocument.create();
  for (const input of documents) {
    const doc = await load(input);
    for (const page of await merged.copyPages(doc, doc.getPageIndices())) merged.addPage(page);
  }
  return { merged: await save(merged), pageCount: merged.getPageCount() };
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
  checkInflation(await load(input), input.field); // the same checks and messages as every other operation
  const { text: pages } = await extractText(new Uint8Array(input.data), { mergePages: false });
  return { pages };
}

async function listPages(task: Extract<PdfTask, { kind: "pages" }>): Promise<PdfResult> {
  const doc = await load(task.document);
  const pageCount = doc.getPageCount();
  const indices = task.pages ? pageGroups(task.pages, pageCount).flat() : doc.getPageIndices();
  // Rendering and OCR list the pages first: a bomb is refused here, once, not page by page.
  checkInflation(doc, task.document.field);
  if (!task.withText) return { listed: { pageCount, indices } };
  const { text: all } = await extractText(new Uint8Array(task.document.data), { mergePages: false });
  return { listed: { pageCount, indices, texts: indices.map((i) => all[i] ?? "") } };
}

const canvasFactory = createIsomorphicCanvasFactory(() => import("@napi-rs/canvas"));

/** One page drawn by pdf.js on a @napi-rs/canvas (Skia), encoded as PNG or JPEG. */
/** One page drawn (the service lists the pages first, which refuses bombs: see listPages). */
async function render(task: Extract<PdfTask, { kind: "render" }>): Promise<PdfResult> {
  await load(task.document);
  const r = task.render;
  const pdf = await getDocumentProxy(new Uint8Array(task.document.data), { maxImageSize: maxImagePixels });
  try {
    const page = await pdf.getPage(task.index + 1);
    const viewport = page.getViewport({ scale: r.dpi / 72 });
    // Rounded up, less what floating point adds (14,400 pt at 600 dpi is 120,000 px, not 120,001).
    const [width, height] = [viewport.width, viewport.height].map((v) => Math.ceil(v - 1e-6));
    if (width * height > r.maxPixels)
      throw new Unusable(
        r.field,
        `page ${task.index + 1} at ${r.dpi} dpi would be ${width} × ${height} pixels, more than ${r.maxPixels / 1e6} megapixels: ask for fewer dpi`,
      );
    const factory = new (await canvasFactory)();
    const drawing = factory.create(width, height);
    try {
      // pdf.js is typed for the DOM's canvas; @napi-rs/canvas implements the part it draws with.
      const canvas = drawing.canvas as HTMLCanvasElement;
      await page.render({ canvas, canvasContext: drawing.context as CanvasRenderingContext2D, viewport }).promise;
      const skia = drawing.canvas as import("@napi-rs/canvas").Canvas;
      const image = r.format === "jpeg" ? await skia.encode("jpeg", r.quality) : await skia.encode("png");
      return { image: new Uint8Array(image.buffer, image.byteOffset, image.byteLength), width, height };
    } finally {
      factory.destroy(drawing);
    }
  } finally {
    await pdf.destroy();
  }
}

/** One document of one-page PDFs (`data`) and pages of `source` (`page`, 0-based), in order. */
async function compose(task: Extract<PdfTask, { kind: "compose" }>): Promise<PdfResult> {
  const out = await PDFDocument.create();
  const source = task.parts.some((p) => "page" in p) && task.source ? await load(task.source) : undefined;
  for (const part of task.parts) {
    const from = "page" in part ? source! : await loadOwn(part.data);
    const indices = "page" in part ? [part.page] : from.getPageIndices();
    for (const page of await out.copyPages(from, indices)) out.addPage(page);
  }
  return { merged: await save(out), pageCount: out.getPageCount() };
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
      case "split":
        return await split(task);
      case "select":
        return await select(task);
      case "remove":
        return await remove(task);
      case "rotate":
        return await rotate(task);
      case "metadata":
        return await setMetadata(task);
      case "stamp":
        return await stamp(task);
      case "pages":
        return await listPages(task);
      case "render":
        return await render(task);
      case "compose":
        return await compose(task);
      case "images":
        return await embeddedImages(task.document, task.pages, task.minSize, task.maxPixels);
      case "stampImage":
        return await stampImage(task.document, task.stamp);
      case "fields":
        return await formFields(task.document);
      case "fill":
        return await fillForm(task.document, task.values, task.flatten);
      case "flatten":
        return await flattenForm(task.document);
      case "fromImages":
        return await imagesToPdf(task.images);
      case "imageStreams":
        return await imageStreams(task.document, task.minBytes);
      case "replaceImages":
        return await replaceImages(task.document, task.replacements);
      case "markdown": {
        const merged = await markdownToPdf(task.markdown, task.pageSize, task.title);
        return { merged, pageCount: (await loadOwn(merged)).getPageCount() };
      }
      case "count":
        return { merged: task.document.data, pageCount: (await load(task.document)).getPageCount() };
    }
  } catch (err) {
    if (err instanceof Unusable) return { error: err.message, field: err.field };
    const field = task.kind === "merge" ? "documents" : "document.data";
    return { error: `cannot be processed: ${(err as Error).message ?? String(err)}`, field };
  }
}
