/**
 * The tesseract.js engine: Tesseract in WebAssembly, on worker threads that tesseract.js starts.
 * Workers are kept and reused (starting one and loading a language takes about a second), at most
 * `concurrency` of them; a worker loaded with other languages is switched (reinitialize) rather
 * than a new one started past the cap. A read that is given up ends its worker, the only way to
 * stop tesseract.js mid-page, and the pool starts another when next needed. Language data comes
 * from the @tesseract.js-data packages on disk: nothing is downloaded.
 */
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorker, OEM, PSM, type Worker } from "tesseract.js";
import { hocrDocument, type OcrEngine, type PageRead, type ReadOptions, ReadAborted } from "./engine.js";

const require = createRequire(import.meta.url);

/** The languages whose data ships on npm, and the orientation model. */
const packaged = ["eng", "deu", "fra", "spa"] as const;

interface Pooled {
  worker: Worker;
  languages: string;
  busy: boolean;
}

/** Creates the engine. */
export function createTesseractJs(options: { concurrency: number }): OcrEngine {
  const { version } = require("tesseract.js/package.json") as { version: string };
  // tesseract.js reads every language from one folder: one of links to the packages' files.
  const langPath = mkdtempSync(join(tmpdir(), "flowforge-tessdata-"));
  for (const lang of packaged) {
    const dir = require(`@tesseract.js-data/${lang}`).langPath as string;
    symlinkSync(join(`${dir}_best_int`, `${lang}.traineddata.gz`), join(langPath, `${lang}.traineddata.gz`));
  }
  const osdPath = (require("@tesseract.js-data/osd").langPath as string).replace(/_best_int$/, "");

  const pool: Pooled[] = [];
  const waiting: (() => void)[] = [];
  let osd: Promise<Worker> | undefined;
  let osdBusy: Promise<unknown> = Promise.resolve();
  let closed = false;

  // tesseract.js reads a page as one block by default; the native program finds its layout
  // (columns, blocks) first. Both do the latter here, so the engines answer alike.
  const layout = (worker: Worker) => worker.setParameters({ tessedit_pageseg_mode: PSM.AUTO });
  const start = async (languages: string) => {
    const worker = await createWorker(languages.split("+"), OEM.LSTM_ONLY, {
      langPath,
      gzip: true,
      cacheMethod: "none",
    });
    await layout(worker);
    return worker;
  };

  /** A free worker with these languages: an idle one as it is, a new one, or an idle one switched. */
  async function acquire(languages: string, signal: AbortSignal): Promise<Pooled> {
    for (;;) {
      if (closed) throw new ReadAborted("the service is stopping");
      if (signal.aborted) throw new ReadAborted("the read was given up before it started");
      const same = pool.find((p) => !p.busy && p.languages === languages);
      if (same) {
        same.busy = true;
        return same;
      }
      if (pool.length < options.concurrency) {
        const slot: Pooled = { worker: undefined as unknown as Worker, languages, busy: true };
        pool.push(slot);
        try {
          slot.worker = await start(languages);
        } catch (err) {
          pool.splice(pool.indexOf(slot), 1);
          wake();
          throw err;
        }
        return slot;
      }
      const other = pool.find((p) => !p.busy);
      if (other) {
        other.busy = true;
        try {
          await other.worker.reinitialize(languages, OEM.LSTM_ONLY);
          await layout(other.worker);
          other.languages = languages;
        } catch (err) {
          discard(other);
          throw err;
        }
        return other;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  }

  function wake() {
    waiting.shift()?.();
  }

  function release(slot: Pooled) {
    slot.busy = false;
    wake();
  }

  function discard(slot: Pooled) {
    const i = pool.indexOf(slot);
    if (i >= 0) pool.splice(i, 1);
    void slot.worker?.terminate().catch(() => {});
    wake();
  }

  /** Runs `work` on the slot; a signal that fires ends the worker and rejects at once. */
  async function guarded<T>(slot: Pooled, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new ReadAborted(String(signal.reason ?? "the read was given up")));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const result = await Promise.race([work(), aborted]);
      release(slot);
      return result;
    } catch (err) {
      discard(slot); // a worker stopped mid-page, or one that failed, is not trusted again
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort!);
    }
  }

  return {
    name: "tesseract.js",
    version,
    languages: packaged,
    concurrency: options.concurrency,

    async read(png: Uint8Array, o: ReadOptions): Promise<PageRead> {
      const slot = await acquire(o.languages.join("+"), o.signal);
      const { data } = await guarded(slot, o.signal, () =>
        slot.worker.recognize(
          Buffer.from(png.buffer, png.byteOffset, png.byteLength),
          {},
          {
            text: true,
            tsv: true,
            hocr: o.hocr,
            pdf: o.pdf,
            blocks: false,
          },
        ),
      );
      return {
        text: data.text,
        tsv: data.tsv ?? "",
        hocr: o.hocr && data.hocr ? hocrDocument(data.hocr, `tesseract.js ${version}`) : undefined,
        pdf: o.pdf && data.pdf ? Uint8Array.from(data.pdf) : undefined,
      };
    },

    async orientation(png: Uint8Array, signal: AbortSignal): Promise<number> {
      // One orientation worker (the legacy engine and its model), its calls one at a time.
      osd ??= createWorker("osd", OEM.TESSERACT_ONLY, {
        langPath: osdPath,
        gzip: true,
        cacheMethod: "none",
        legacyCore: true,
        legacyLang: true,
      });
      const run = osdBusy.then(async () => {
        if (signal.aborted) throw new ReadAborted("the read was given up before it started");
        const worker = await osd!;
        try {
          const { data } = await worker.detect(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
          return (data.orientation_confidence ?? 0) > 0.5 ? (data.orientation_degrees ?? 0) % 360 : 0;
        } catch {
          return 0; // too little text to tell
        }
      });
      osdBusy = run.catch(() => {});
      return run;
    },

    async close() {
      closed = true;
      for (const resolve of waiting.splice(0)) resolve();
      await Promise.all([
        ...pool.splice(0).map((p) => p.worker?.terminate().catch(() => {})),
        osd?.then((w) => w.terminate()).catch(() => {}),
      ]);
      rmSync(langPath, { recursive: true, force: true });
    },
  };
}
