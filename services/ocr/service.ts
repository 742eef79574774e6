/**
 * OcrService: images and PDF pages read by an engine (engine.ts), a page at a time, at most
 * `concurrency` pages at once across all callers (a bulkhead that keeps room for unary callers
 * while jobs run and takes job items round robin across tenants). Each page is bounded in pixels
 * before it is decoded and in time while it is read; PDF pages are rendered on a sandbox thread
 * by the PDF capability's worker. Multi-page work run as a job reports progress page by page.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { Engine, type OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { type BlobStore, fileBytes, fileOut } from "#blobs/index.js";
import { createBulkhead } from "#runtime/bulkhead.js";
import { cpuPool } from "#runtime/machine.js";
import { progressKey } from "#runtime/context.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { Logger } from "#runtime/logger.js";
import { createSandbox, type Sandbox } from "#runtime/sandbox.js";
import type { PdfResult, PdfTask } from "#pdf/worker.js";
import { type Layout, languageAliases, layoutOf, type OcrEngine, type PageRead, ReadAborted } from "./engine.js";
import { despeckle, imagePages, maxPixels, type PageImage, skewOf, turn } from "./images.js";
import { createTesseractJs } from "./tesseract-js.js";
import { createTesseractNative, probeTesseract } from "./tesseract-native.js";
import { moduleUrl } from "#runtime/code.js";

/** Options for createOcrService. */
export interface OcrServiceOptions {
  /** Pages read at once; job items may fill all but one. @default cpuPool(): the CPUs, plus one for unary callers */
  concurrency?: number;
  /** The engine calls get when they name none: `auto` is the native one where it is installed. @default tesseract.js */
  defaultEngine?: "auto" | "tesseract.js" | "tesseract";
  /** The native program; none is used when it is not found. @default "tesseract" */
  tesseractProgram?: string;
  /** Longest one page may take to read. @default 120000 */
  pageTimeMs?: number;
  /** Where blob_id sources are read from and large searchable PDFs are kept. */
  blobs?: BlobStore;
  /** Where a sandbox thread's failure outside a task is reported. */
  logger?: Logger;
}

/** Most pages of a PDF read in one call. */
const maxPdfPages = 500;
/** Most languages one call reads in. */
const maxLanguages = 4;
/** A page whose own text layer has fewer characters than this is read by OCR even with skip_text_pages. */
const minTextLayerChars = 10;

/** One page's outcome, before the pages are joined. */
interface PageResult {
  page: number;
  width: number;
  height: number;
  rotation: number;
  skew: number;
  read: PageRead;
  fromTextLayer: boolean;
}

/** What both Recognize and RecognizePdf ask for. */
interface Ask {
  engine: Engine;
  languages: string[];
  autoRotate: boolean;
  hocr: boolean;
  searchablePdf: boolean;
  denoise: boolean;
}

/** Creates the OcrService implementation, its engines and its page pool. */
export function createOcrService(options: OcrServiceOptions = {}): {
  impl: ServiceImpl<typeof OcrService>;
  close(): Promise<void>;
} {
  const concurrency = Math.max(2, options.concurrency ?? cpuPool().threads);
  const pageTimeMs = options.pageTimeMs ?? 120_000;
  const engines = new Map<Engine, OcrEngine>([[Engine.TESSERACT_JS, createTesseractJs({ concurrency })]]);
  const program = options.tesseractProgram ?? "tesseract";
  const native = probeTesseract(program);
  if (native) engines.set(Engine.TESSERACT, createTesseractNative({ program, concurrency, ...native }));
  const wantsNative = options.defaultEngine === "tesseract" || options.defaultEngine === "auto";
  const defaultEngine = wantsNative && engines.has(Engine.TESSERACT) ? Engine.TESSERACT : Engine.TESSERACT_JS;
  // Job items never hold the last slot: a page takes seconds, and a unary caller should not wait
  // one out behind a batch.
  const pool = createBulkhead({ name: "ocr", concurrency, jobConcurrency: concurrency - 1, maxWaiting: 5_000 });
  let pdfSandbox: Sandbox<PdfTask, PdfResult> | undefined;
  // Started on first use: a service that only reads images never needs it.
  const pdf = () =>
    (pdfSandbox ??= createSandbox<PdfTask, PdfResult>({
      filename: moduleUrl("../../lib/pdf/worker.ts", import.meta.url),
      timeMs: 60_000,
      heapMib: 512,
      threads: 1,
      field: "document",
      name: "ocr-pdf",
      logger: options.logger,
    }));

  function engineFor(engine: Engine): [Engine, OcrEngine] {
    const id = engine === Engine.UNSPECIFIED ? defaultEngine : engine;
    const found = engines.get(id);
    if (found) return [id, found];
    if (id === Engine.TESSERACT)
      throw new ConnectError(
        "engine: the native tesseract is not installed here (Debian's tesseract-ocr package); GetEngines lists the engines there are",
        Code.FailedPrecondition,
      );
    throw invalidArgument("engine", `unknown engine ${engine}`);
  }

  function languagesFor(asked: string[], engine: OcrEngine): string[] {
    check(asked.length <= maxLanguages, "languages", `names ${asked.length} languages; at most ${maxLanguages}`);
    if (asked.length === 0) return ["eng"];
    const codes = asked.map((language, i) => {
      const code = languageAliases[language.trim().toLowerCase()] ?? language.trim().toLowerCase();
      check(
        engine.languages.includes(code),
        `languages[${i}]`,
        `"${language}" is not a language the ${engine.name} engine reads; it reads ${engine.languages.join(", ")}`,
      );
      return code;
    });
    return [...new Set(codes)];
  }

  /** Reads one page on the pool, turned upright first when asked. */
  function readPage(image: PageImage, page: number, ask: Ask, engine: OcrEngine, ctx: HandlerContext) {
    return pool.run(ctx, async (): Promise<PageResult> => {
      const timeout = AbortSignal.timeout(pageTimeMs);
      const signal = AbortSignal.any([ctx.signal, timeout]);
      try {
        const clean = ask.denoise ? await despeckle(image) : image;
        const rotation = ask.autoRotate ? await engine.orientation(clean.png, signal) : 0;
        const turned = await turn(clean, rotation);
        // Then small slopes straightened (a page fed in crooked): Tesseract's layout analysis
        // merges lines that drift by more than their spacing.
        const skew = ask.autoRotate ? await skewOf(turned) : 0;
        const upright = await turn(turned, -skew);
        const read = await engine.read(upright.png, {
          languages: ask.languages,
          hocr: ask.hocr,
          pdf: ask.searchablePdf,
          signal,
        });
        return { page, width: upright.width, height: upright.height, rotation, skew, read, fromTextLayer: false };
      } catch (err) {
        if (err instanceof ReadAborted && timeout.aborted)
          throw new ConnectError(
            `page ${page} took longer than the ${pageTimeMs / 1000} s a page may take to read`,
            Code.DeadlineExceeded,
          );
        if (err instanceof ReadAborted) throw new ConnectError("the read was given up", Code.Canceled);
        throw err;
      }
    });
  }

  /** Runs `work` over `items` with at most `limit` at once, reporting each finished one as progress. */
  async function eachPage<T, R>(items: T[], ctx: HandlerContext, work: (item: T) => Promise<R>): Promise<R[]> {
    const report = ctx.values.get(progressKey);
    const results: R[] = new Array(items.length);
    let next = 0;
    let done = 0;
    let failed = false;
    // A page or two beyond the pool's size waits decoded or rendered, not all of them; once a
    // page fails (the call's answer is that error), no further page is started.
    const lanes = Array.from({ length: Math.min(items.length, concurrency + 1) }, async () => {
      while (next < items.length && !failed) {
        const i = next++;
        try {
          results[i] = await work(items[i]);
        } catch (err) {
          failed = true;
          throw err;
        }
        done++;
        if (items.length > 1)
          report({ message: `page ${done} of ${items.length} read`, fraction: done / items.length });
      }
    });
    await Promise.all(lanes);
    return results;
  }

  /** The answer both methods give, from the pages read. */
  async function answer(
    results: PageResult[],
    engine: Engine,
    ask: Ask,
    source: Uint8Array | undefined,
    ctx: HandlerContext,
  ) {
    const blocks: (Layout["blocks"][number] & { page: number })[] = [];
    const lines: (Layout["lines"][number] & { page: number })[] = [];
    const words: (Layout["words"][number] & { page: number })[] = [];
    const pages = [];
    const confidences: number[] = [];
    for (const r of results) {
      const layout = layoutOf(r.read.tsv);
      const [b0, l0] = [blocks.length, lines.length];
      blocks.push(...layout.blocks.map((b) => ({ page: r.page, ...b })));
      lines.push(...layout.lines.map((l) => ({ ...l, page: r.page, block: l.block + b0 })));
      words.push(...layout.words.map((w) => ({ ...w, page: r.page, line: w.line + l0 })));
      confidences.push(...layout.words.map((w) => w.confidence));
      pages.push({
        page: r.page,
        text: r.read.text,
        confidence: r.fromTextLayer ? 100 : layout.confidence,
        width: r.width,
        height: r.height,
        rotation: r.rotation,
        skew: r.skew,
        hocr: r.read.hocr ?? "",
        fromTextLayer: r.fromTextLayer,
      });
    }
    let searchablePdf: { source: Awaited<ReturnType<typeof fileOut>> } | undefined;
    if (ask.searchablePdf) {
      const parts = results.map((r) => (r.fromTextLayer ? { page: r.page - 1 } : { data: r.read.pdf! }));
      const task = { kind: "compose" as const, source: source && { data: source, field: "document.data" }, parts };
      const { merged } = await pdf().answer(task, ctx, "document", "merged");
      const meta = { contentType: "application/pdf", filename: "searchable.pdf" };
      searchablePdf = { source: await fileOut(merged, meta, ctx, options.blobs) };
    }
    return {
      text: pages.map((p) => p.text).join("\f"),
      confidence: confidences.length === 0 ? 0 : confidences.reduce((a, b) => a + b, 0) / confidences.length,
      pages,
      blocks,
      lines,
      words,
      engine,
      searchablePdf,
    };
  }

  function askOf(req: Omit<Ask, "languages"> & { languages: string[] }) {
    const [id, engine] = engineFor(req.engine);
    const ask: Ask = {
      engine: id,
      languages: languagesFor(req.languages, engine),
      autoRotate: req.autoRotate,
      hocr: req.hocr,
      searchablePdf: req.searchablePdf,
      denoise: req.denoise,
    };
    return { ask, engine };
  }

  const impl: ServiceImpl<typeof OcrService> = {
    async recognize(req, ctx) {
      const { ask, engine } = askOf(req);
      const data = await fileBytes(req.image?.source, "image", ctx, options.blobs);
      const pages = await imagePages(data, "image.data");
      const indices = Array.from({ length: pages.count }, (_, i) => i);
      const results = await eachPage(indices, ctx, async (i) =>
        readPage(await pages.decode(i), i + 1, ask, engine, ctx),
      );
      return answer(results, ask.engine, ask, undefined, ctx);
    },

    async recognizePdf(req, ctx) {
      const { ask, engine } = askOf(req);
      const dpi = req.dpi || 300;
      check(dpi >= 72 && dpi <= 600, "dpi", "must be from 72 to 600");
      const data = await fileBytes(req.document?.source, "document", ctx, options.blobs);
      const document = { data, field: "document.data" };
      const pages = req.pages.trim() === "" ? undefined : { text: req.pages, field: "pages" };
      const task = { kind: "pages" as const, document, pages, withText: req.skipTextPages };
      const { listed } = await pdf().answer(task, ctx, "document", "listed");
      check(
        listed.indices.length <= maxPdfPages,
        "pages",
        `names ${listed.indices.length} pages; at most ${maxPdfPages} are read a call: ask for a range`,
      );
      const render = { dpi, format: "png" as const, quality: 100, maxPixels, field: "dpi" };
      const results = await eachPage([...listed.indices.entries()], ctx, async ([k, index]): Promise<PageResult> => {
        const own = listed.texts?.[k] ?? "";
        if (req.skipTextPages && own.replace(/\s/g, "").length >= minTextLayerChars)
          return {
            page: index + 1,
            width: 0,
            height: 0,
            rotation: 0,
            skew: 0,
            read: { text: own, tsv: "" },
            fromTextLayer: true,
          };
        const drawn = await pdf().answer({ kind: "render", document, index, render }, ctx, "document", "image");
        return readPage({ png: drawn.image, width: drawn.width, height: drawn.height }, index + 1, ask, engine, ctx);
      });
      return answer(results, ask.engine, ask, data, ctx);
    },

    async getEngines() {
      return {
        engines: [...engines].map(([id, engine]) => ({
          engine: id,
          version: engine.version,
          languages: [...engine.languages],
          default: id === defaultEngine,
        })),
      };
    },
  };

  return {
    impl,
    async close() {
      await Promise.all([...engines.values()].map((e) => e.close()));
      await pdfSandbox?.close();
    },
  };
}
