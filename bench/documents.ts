/**
 * `npm run bench:documents`: issue 12's speed and accuracy figures, side by side in one run.
 * - OCR: pages per minute of the service reading an 8-page TIFF as a job through the gateway
 *   (both cores busy), per engine, against Debian's native `tesseract` run one single-threaded
 *   process per core on the same pages; target >= 0.8. CER of each engine on the clean pages and
 *   on rotated and low-contrast ones; targets <= 1 % and <= 5 %.
 * - PDF: merge of two 100-page documents, text of a 100-page document, 10 pages rendered to PNG
 *   at 150 dpi, each directly over gRPC to a PDF service process and through the gateway (Connect
 *   JSON, the documents as base64), against the same library called in this process, each warmed
 *   to steady state, then best of 5; target >= 0.7. The client's own work (serializing the request, parsing the answer) is not timed, as
 *   none is in-process.
 */
import "#pdf/pdfjs.js";
import { execFile } from "node:child_process";
import { cpus } from "node:os";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ChildProcess } from "node:child_process";
import { PDFDocument, StandardFonts } from "pdf-lib";
import sharp from "sharp";
import { createIsomorphicCanvasFactory, extractText, getDocumentProxy } from "unpdf";
import { Engine } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { startMesh } from "#test/support/mesh.js";
import { cer, textPage } from "../services/ocr/test/helpers.js";
import { startCapability } from "./capability.js";
import { best, size } from "./measure.js";

const ocrPages = size("BENCH_OCR_PAGES", 8, 2);
const pdfPages = size("BENCH_PDF_PAGES", 100, 10);
const runs = size("BENCH_RUNS", 5, 1);
const warmRuns = size("BENCH_WARM_RUNS", 30, 1);

const run = promisify(execFile);
// The capabilities measured (with the jobs service), not all eleven processes.
const mesh = await startMesh({ LOG_LEVEL: "warn", FLOWFORGE_CAPABILITIES: "pdf,ocr" });
const children: ChildProcess[] = [];
const auth = { authorization: `Bearer ${mesh.adminKey}` };
const dir = await mkdtemp(join(tmpdir(), "flowforge-bench-docs-"));
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${mesh.url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

const words =
  "the service reads each page of the scanned document and answers its text with the boxes of every word it found on the page".split(
    " ",
  );
/** Page `n`: 30 lines of prose, as a letter-sized scan at about 200 dpi would hold. */
function pageLines(n: number): string[] {
  return Array.from({ length: 30 }, (_, i) => {
    const out: string[] = [];
    for (let k = 0; out.join(" ").length < 60; k++) out.push(words[(n * 7 + i * 3 + k) % words.length]);
    return out.join(" ");
  });
}

try {
  // ---- OCR -------------------------------------------------------------------------------
  const pages = await Promise.all(Array.from({ length: ocrPages }, (_, n) => textPage(pageLines(n), { fontSize: 28 })));
  const texts = pages.map((_, n) => pageLines(n).join("\n"));
  const tiff = await sharp(pages, { join: { animated: true } })
    .tiff({ compression: "lzw" })
    .toBuffer();
  const files = await Promise.all(
    pages.map(async (p, i) => {
      const file = join(dir, `page-${i}.png`);
      await writeFile(file, p);
      return file;
    }),
  );
  const cores = cpus().length;
  // Native: one single-threaded process per core, pages handed out as processes finish.
  const native = await best(Math.min(2, runs), async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: cores }, async () => {
        while (next < files.length) {
          const file = files[next++];
          await run("tesseract", [file, "-", "-l", "eng"], { env: { ...process.env, OMP_THREAD_LIMIT: "1" } });
        }
      }),
    );
  });
  /** The 8 pages read as one job through the gateway; answers ms and the pages' text. */
  async function viaJob(engine: Engine) {
    let answer: { pages: { text: string }[] } | undefined;
    const ms = await best(Math.min(2, runs), async () => {
      const submitted = (await post("api/v1/ocr/recognize:batch?wait=120s", {
        items: [{ image: { data: b64(tiff) }, engine: Engine[engine] }],
      })) as { job: { state: string; items: { result: { pages: { text: string }[] } }[] } };
      if (submitted.job.state !== "JOB_STATE_SUCCEEDED") throw new Error(`OCR job ${submitted.job.state}`);
      answer = submitted.job.items[0].result;
    });
    const rate = cer(texts.join("\n"), answer!.pages.map((p) => p.text).join("\n"));
    return { ms, cer: rate };
  }
  const js = await viaJob(Engine.TESSERACT_JS);
  const nat = await viaJob(Engine.TESSERACT);
  // Harder pages: one turned sideways, one upside down, two faint.
  const hard = [
    await sharp(pages[0]).rotate(90).png().toBuffer(),
    await sharp(pages[1]).rotate(180).png().toBuffer(),
    await textPage(pageLines(2), { fontSize: 28, ink: "#a8a8a8", paper: "#d8d8d8" }),
    await textPage(pageLines(3), { fontSize: 28, ink: "#777777", paper: "#bbbbbb" }),
  ];
  async function hardCer(engine: Engine) {
    const read = await Promise.all(
      hard.map((p) =>
        post("api/v1/ocr/recognize", { image: { data: b64(p) }, engine: Engine[engine], autoRotate: true }),
      ),
    );
    return Math.max(...read.map((r, i) => cer(pageLines(i).join("\n"), r.text as string)));
  }
  const hardJs = await hardCer(Engine.TESSERACT_JS);
  const hardNative = await hardCer(Engine.TESSERACT);

  // ---- PDF -------------------------------------------------------------------------------
  async function document(n: number, label: string) {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    for (let p = 0; p < n; p++) {
      const page = doc.addPage([595.28, 841.89]);
      for (let l = 0; l < 40; l++)
        page.drawText(`${label} page ${p + 1} line ${l + 1}: ${pageLines(p)[l % 30]}`, {
          x: 40,
          y: 800 - l * 19,
          size: 9,
          font,
        });
    }
    return doc.save();
  }
  const [a, b] = [await document(pdfPages, "A"), await document(pdfPages, "B")];
  const ten = await document(10, "R");
  const { started, client: direct } = await startCapability("pdf", PdfService, mesh);
  children.push(started.child);
  const doc = (data: Uint8Array) => ({ source: { case: "data" as const, value: data } });
  const canvas = await createIsomorphicCanvasFactory(() => import("@napi-rs/canvas"));

  /** A gateway call whose body is serialized once, outside the timing, and whose answer is read as bytes. */
  const gatewayCall = (path: string, body: unknown) => {
    const text = JSON.stringify(body);
    return async () => {
      const res = await fetch(`${mesh.url}/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: text,
      });
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      return res.arrayBuffer();
    };
  };
  /** pdf-lib's merge as its README shows it; `unyielding`: as the service's threads run it. */
  const mergeInProcess = async (unyielding: boolean) => {
    const out = await PDFDocument.create();
    for (const bytes of [a, b]) {
      const src = await PDFDocument.load(bytes, { updateMetadata: false, ...(unyielding && { parseSpeed: Infinity }) });
      for (const p of await out.copyPages(src, src.getPageIndices())) out.addPage(p);
    }
    return out.save(unyielding ? { objectsPerTick: Infinity } : {});
  };
  const rows: [string, number, number, number][] = [];
  const measure = async (
    name: string,
    viaDirect: () => Promise<unknown>,
    viaGateway: () => Promise<unknown>,
    local: () => Promise<unknown>,
  ) => {
    // Warmed up first, to steady state: pdf-lib's merge needs about 30 runs before V8 has
    // optimised it (in this process and in each of the service's sandbox threads alike); at most
    // 30 runs or 20 s a path.
    for (const fn of [viaDirect, viaGateway, local])
      for (let i = 0, until = performance.now() + 20_000; i < warmRuns && performance.now() < until; i++) await fn();
    rows.push([name, await best(runs, viaDirect), await best(runs, viaGateway), await best(runs, local)]);
  };
  await measure(
    `Merge two ${pdfPages}-page PDFs`,
    () => direct.merge({ documents: [doc(a), doc(b)] }),
    gatewayCall("flowforge.pdf.v1.PdfService/Merge", { documents: [{ data: b64(a) }, { data: b64(b) }] }),
    () => mergeInProcess(false),
  );
  // Side check: the service's threads read and write without pdf-lib's yielding (see
  // lib/pdf/document.ts); the same in this process, for the ratio against that.
  const unyielding = await best(runs, () => mergeInProcess(true));
  await measure(
    `ExtractText of a ${pdfPages}-page PDF`,
    () => direct.extractText({ document: doc(a) }),
    gatewayCall("flowforge.pdf.v1.PdfService/ExtractText", { document: { data: b64(a) } }),
    () => extractText(new Uint8Array(a), { mergePages: false }),
  );
  await measure(
    "RenderPages: 10 pages to PNG at 150 dpi",
    () => direct.renderPages({ document: doc(ten), dpi: 150 }),
    gatewayCall("flowforge.pdf.v1.PdfService/RenderPages", { document: { data: b64(ten) }, dpi: 150 }),
    async () => {
      const pdf = await getDocumentProxy(new Uint8Array(ten));
      for (let n = 1; n <= 10; n++) {
        const page = await pdf.getPage(n);
        const viewport = page.getViewport({ scale: 150 / 72 });
        const factory = new canvas();
        const drawing = factory.create(Math.ceil(viewport.width), Math.ceil(viewport.height));
        await page.render({
          canvas: drawing.canvas as HTMLCanvasElement,
          canvasContext: drawing.context as CanvasRenderingContext2D,
          viewport,
        }).promise;
        await (drawing.canvas as import("@napi-rs/canvas").Canvas).encode("png");
        factory.destroy(drawing);
      }
      await pdf.destroy();
    },
  );

  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  const ppm = (ms: number) => ((ocrPages / ms) * 60_000).toFixed(1);
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  console.log(
    [
      "",
      line([
        `OCR, ${ocrPages} pages`,
        "pages/min",
        "native tesseract, 1 process per core",
        "ratio",
        "CER clean",
        "CER rotated / faint",
        "target",
      ]),
      line(["---", "---:", "---:", "---:", "---:", "---:", "---"]),
      line([
        "tesseract.js engine, as a job",
        ppm(js.ms),
        ppm(native),
        (native / js.ms).toFixed(2),
        pct(js.cer),
        pct(hardJs),
        ">= 0.8; <= 1 %, <= 5 %",
      ]),
      line([
        "native engine, as a job",
        ppm(nat.ms),
        ppm(native),
        (native / nat.ms).toFixed(2),
        pct(nat.cer),
        pct(hardNative),
        ">= 0.8; <= 1 %, <= 5 %",
      ]),
      "",
      line(["PDF", "direct gRPC, ms", "gateway, ms", "in-process, ms", "direct ratio", "gateway ratio", "target"]),
      line(["---", "---:", "---:", "---:", "---:", "---:", "---"]),
      ...rows.map(([name, d, g, l]) =>
        line([name, Math.round(d), Math.round(g), Math.round(l), (l / d).toFixed(2), (l / g).toFixed(2), ">= 0.7"]),
      ),
      "",
      `Merge in-process without pdf-lib's yielding (as the service runs it): ${Math.round(unyielding)} ms; ` +
        `against that, direct ${(unyielding / rows[0][1]).toFixed(2)}, gateway ${(unyielding / rows[0][2]).toFixed(2)}.`,
      "",
    ].join("\n"),
  );
} finally {
  for (const c of children) c.kill("SIGTERM");
  await mesh.stop();
  await rm(dir, { recursive: true, force: true });
}
