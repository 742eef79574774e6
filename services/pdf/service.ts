/**
 * PdfService: every operation on a document runs on the sandbox threads (worker.ts and the task
 * modules beside it), bounded in time and memory, so a hostile document costs its caller's call
 * and no one else's. Images are checked and normalised with sharp here first (images.ts);
 * encryption is qpdf's (qpdf.ts) and HTML printing Chromium's (chromium.ts), each a separate
 * process, bounded in time.
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { type BlobStore, fileBytes, fileOut } from "#blobs/index.js";
import { inflateSync } from "node:zlib";
import sharp from "sharp";
import {
  type Document,
  FormFieldKind,
  type Image,
  ImageFormat,
  PageSizeName,
  type PdfService,
  TextPosition,
} from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { check } from "#runtime/errors.js";
import { createChromium } from "./chromium.js";
import type { Field } from "#pdf/edit.js";
import { maxImagePixels, normaliseImage } from "#pdf/images.js";
import { createQpdf } from "./qpdf.js";
import type { Logger } from "#runtime/logger.js";
import { createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import type { Input, PdfResult, PdfTask, Stamp } from "#pdf/worker.js";
import { moduleUrl } from "#runtime/code.js";

/** Options for createPdfService. */
export interface PdfServiceOptions {
  /** Bounds on the threads documents are handled on. */
  sandbox?: SandboxLimits;
  /** Where blob_id documents are read from and large results are kept. */
  blobs?: BlobStore;
  /** The qpdf program (Encrypt, Decrypt). @default "qpdf" */
  qpdf?: string;
  /** The Chromium program (FromHtml). @default "/usr/bin/chromium" */
  chromium?: string;
  /** Where a sandbox thread's failure outside a task is reported. */
  logger?: Logger;
}

const kinds: Record<Field["kind"], FormFieldKind> = {
  text: FormFieldKind.TEXT,
  checkbox: FormFieldKind.CHECKBOX,
  radio: FormFieldKind.RADIO,
  dropdown: FormFieldKind.DROPDOWN,
  list: FormFieldKind.LIST,
  button: FormFieldKind.BUTTON,
  signature: FormFieldKind.SIGNATURE,
  unknown: FormFieldKind.UNSPECIFIED,
};
/** Paper sizes in points. */
const papers = { A4: [595.28, 841.89], LETTER: [612, 792] } as const;
/** Most images one ImagesToPdf call takes. */
const maxImages = 500;
/** Longest Markdown and HTML accepted. */
const maxMarkdownChars = 1024 * 1024;
const maxHtmlChars = 5 * 1024 * 1024;
/** Most pixels of images one ExtractImages call decodes. */
const maxExtractedPixels = 200_000_000;

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
    filename: moduleUrl("../../lib/pdf/worker.ts", import.meta.url),
    field: "document",
    name: "pdf",
    logger: options.logger,
  });
  const run = sandbox.answer;
  const blobs = options.blobs;
  const qpdf = createQpdf(options.qpdf);
  const chromium = createChromium(options.chromium);

  /** A request's image as bytes pdf-lib embeds. */
  async function imageOf(image: Image | undefined, field: string, ctx: HandlerContext) {
    const data = await fileBytes(image?.source, field, ctx, blobs);
    return normaliseImage(data, image?.source.case === "blobId" ? `${field}.blob_id` : `${field}.data`);
  }

  /** Passwords go to qpdf one a line: 1 to 127 printable characters. */
  function checkPassword(value: string, field: string, required: boolean) {
    if (!required && value === "") return;
    check(value.length >= 1 && value.length <= 127, field, "must be 1 to 127 characters");
    check(!/[\r\n\0]/.test(value), field, "must be one line");
  }

  function paperOf(size: PageSizeName, field: string): "A4" | "LETTER" {
    check(size in PageSizeName, field, `unknown page size ${size}`);
    check(size !== PageSizeName.FIT, field, "FIT is for images; choose A4 or LETTER");
    return size === PageSizeName.LETTER ? "LETTER" : "A4";
  }

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

    async extractImages(req, ctx) {
      const document = await inputOf(req.document, "document", ctx);
      const pages = req.pages.trim() === "" ? undefined : pageList(req.pages);
      const task = {
        kind: "images" as const,
        document,
        pages,
        minSize: req.minSize || 16,
        maxPixels: maxExtractedPixels,
      };
      const { images } = await run(task, ctx, "document", "images");
      const encoded = await Promise.all(
        images.map((img) =>
          sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 | 4 } })
            .png()
            .toBuffer(),
        ),
      );
      const spill = encoded.reduce((sum, b) => sum + b.length, 0) > maxAnswerBytes;
      check(!spill || blobs !== undefined, "pages", "the images are more than one answer carries: ask for fewer pages");
      const out = images.map(async (img, i) => {
        const meta = { contentType: "image/png", filename: `page-${img.page}-image-${i + 1}.png` };
        const source = await fileOut(new Uint8Array(encoded[i]), meta, ctx, blobs, spill);
        return { page: img.page, width: img.width, height: img.height, image: { source, contentType: "image/png" } };
      });
      return { images: await Promise.all(out) };
    },

    async addImage(req, ctx) {
      const position = positions[req.position];
      check(position !== undefined, "position", `unknown position ${req.position}`);
      const center = position === "center";
      const scale = req.scale || (center ? 0.5 : 0.15);
      check(scale > 0 && scale <= 1, "scale", "must be above 0 and at most 1 (a share of the page's width)");
      const opacity = req.opacity || (center ? 0.3 : 1);
      check(opacity > 0 && opacity <= 1, "opacity", "must be above 0 and at most 1");
      const [document, image] = await Promise.all([
        inputOf(req.document, "document", ctx),
        imageOf(req.image, "image", ctx),
      ]);
      const pages = req.pages.trim() === "" ? undefined : pageList(req.pages);
      const stamp = { image: image.data, format: image.format, position, scale, opacity, pages };
      const { parts } = await run({ kind: "stampImage", document, stamp }, ctx, "document", "parts");
      return { document: await asDocument(parts[0], ctx) };
    },

    async getFormFields(req, ctx) {
      const { fields } = await run(
        { kind: "fields", document: await inputOf(req.document, "document", ctx) },
        ctx,
        "document",
        "fields",
      );
      return { fields: fields.map((f) => ({ ...f, kind: kinds[f.kind] })) };
    },

    async fillForm(req, ctx) {
      const entries = Object.entries(req.values);
      check(entries.length > 0, "values", "is required: values by field name");
      check(entries.length <= 10_000, "values", "sets at most 10,000 fields");
      for (const [name, value] of entries)
        check(value.length <= 100_000, `values[${name}]`, "must be at most 100,000 characters");
      const task = {
        kind: "fill" as const,
        document: await inputOf(req.document, "document", ctx),
        values: req.values,
        flatten: req.flatten,
      };
      const { parts } = await run(task, ctx, "document", "parts");
      return { document: await asDocument(parts[0], ctx) };
    },

    async flattenForm(req, ctx) {
      const { parts } = await run(
        { kind: "flatten", document: await inputOf(req.document, "document", ctx) },
        ctx,
        "document",
        "parts",
      );
      return { document: await asDocument(parts[0], ctx) };
    },

    async imagesToPdf(req, ctx) {
      check(req.images.length >= 1, "images", "is required: at least one image");
      check(req.images.length <= maxImages, "images", `takes at most ${maxImages} images`);
      check(req.pageSize in PageSizeName, "page_size", `unknown page size ${req.pageSize}`);
      const paper =
        req.pageSize === PageSizeName.A4 ? papers.A4 : req.pageSize === PageSizeName.LETTER ? papers.LETTER : undefined;
      const images = [];
      let pixels = 0;
      for (const [i, image] of req.images.entries()) {
        const n = await imageOf(image, `images[${i}]`, ctx);
        pixels += n.width * n.height;
        check(pixels <= 4 * maxImagePixels, "images", `come to more than ${(4 * maxImagePixels) / 1e6} megapixels`);
        const page = paper ? { width: paper[0], height: paper[1], fit: true } : { ...n.points, fit: false };
        images.push({ data: n.data, format: n.format, page });
      }
      const { merged, pageCount } = await run({ kind: "fromImages", images }, ctx, "images", "merged");
      return { document: await asDocument(merged, ctx), pageCount };
    },

    async compress(req, ctx) {
      const quality = req.imageQuality || 70;
      check(quality >= 1 && quality <= 100, "image_quality", "must be from 1 to 100");
      const maxSize = req.maxImageSize || 2000;
      check(maxSize >= 16 && maxSize <= 20_000, "max_image_size", "must be from 16 to 20000 pixels");
      const document = await inputOf(req.document, "document", ctx);
      const { streams } = await run({ kind: "imageStreams", document, minBytes: 8 * 1024 }, ctx, "document", "streams");
      const replacements = [];
      for (const s of streams) {
        const jpeg = await reencode(s, quality, maxSize).catch(() => undefined); // an image it cannot read stays
        if (jpeg && jpeg.data.length < s.data.length * 0.9)
          replacements.push({ ref: s.ref, jpeg: jpeg.data, ...jpeg.size, channels: s.channels });
      }
      const task = { kind: "replaceImages" as const, document, replacements };
      const { merged } = await run(task, ctx, "document", "merged");
      const smaller = merged.length < document.data.length;
      return {
        document: await asDocument(smaller ? merged : document.data, ctx),
        originalBytes: BigInt(document.data.length),
        compressedBytes: BigInt(smaller ? merged.length : document.data.length),
        imagesRecompressed: smaller ? replacements.length : 0,
      };
    },

    async encrypt(req, ctx) {
      checkPassword(req.userPassword, "user_password", true);
      checkPassword(req.ownerPassword, "owner_password", false);
      const document = await inputOf(req.document, "document", ctx);
      await run({ kind: "count", document }, ctx, "document", "merged"); // a readable, unencrypted PDF first
      const protection = {
        userPassword: req.userPassword,
        ownerPassword: req.ownerPassword,
        print: req.allowPrint,
        copy: req.allowCopy,
        modify: req.allowModify,
      };
      return { document: await asDocument(await qpdf.encrypt(document.data, protection, document.field), ctx) };
    },

    async decrypt(req, ctx) {
      checkPassword(req.password, "password", true);
      const document = await inputOf(req.document, "document", ctx);
      return { document: await asDocument(await qpdf.decrypt(document.data, req.password, document.field), ctx) };
    },

    async fromMarkdown(req, ctx) {
      check(req.markdown.trim() !== "", "markdown", "is required");
      check(req.markdown.length <= maxMarkdownChars, "markdown", `must be at most ${maxMarkdownChars} characters`);
      check(req.title.length <= 1000, "title", "must be at most 1,000 characters");
      const task = {
        kind: "markdown" as const,
        markdown: req.markdown,
        pageSize: paperOf(req.pageSize, "page_size"),
        title: req.title,
      };
      const { merged, pageCount } = await run(task, ctx, "markdown", "merged");
      return { document: await asDocument(merged, ctx), pageCount };
    },

    async fromHtml(req, ctx) {
      check(req.html.trim() !== "", "html", "is required");
      check(req.html.length <= maxHtmlChars, "html", `must be at most ${maxHtmlChars} characters`);
      const format = paperOf(req.pageSize, "page_size") === "LETTER" ? "Letter" : "A4";
      const pdf = await chromium.print(
        req.html,
        { format, landscape: req.landscape, printBackground: req.printBackground },
        ctx,
      );
      const { pageCount } = await run({ kind: "count", document: { data: pdf, field: "html" } }, ctx, "html", "merged");
      return { document: await asDocument(pdf, ctx), pageCount };
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
  return {
    impl,
    async close() {
      await Promise.all([sandbox.close(), chromium.close()]);
    },
  };
}

/** An image stream as a JPEG no larger than `maxSize` a side, or undefined when it is not worth it. */
async function reencode(
  s: { data: Uint8Array; filter: string; width: number; height: number; channels: 1 | 3 },
  quality: number,
  maxSize: number,
) {
  check(s.width * s.height <= maxImagePixels, "document", "holds an image past 50 megapixels");
  const input =
    s.filter === "DCTDecode"
      ? sharp(s.data, { limitInputPixels: maxImagePixels })
      : sharp(inflateSync(s.data, { maxOutputLength: s.width * s.height * s.channels + 1024 }), {
          raw: { width: s.width, height: s.height, channels: s.channels },
        });
  const { data, info } = await input
    .resize({ width: maxSize, height: maxSize, fit: "inside", withoutEnlargement: true })
    .jpeg({ quality, mozjpeg: true })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== s.channels) return undefined;
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    size: { width: info.width, height: info.height },
  };
}
