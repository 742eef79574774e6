/**
 * The native engine: Debian's `tesseract` program, one process per page (one thread each,
 * OMP_THREAD_LIMIT=1, so `concurrency` processes use that many cores), killed when the read is
 * given up. Found on PATH (or FLOWFORGE_TESSERACT) when the service starts; absent, the service
 * runs without it and says so.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OcrEngine, PageRead, ReadOptions } from "./engine.js";
import { ReadAborted } from "./engine.js";

/** The program's version and languages, or undefined when it is not installed. */
export function probeTesseract(program: string): { version: string; languages: string[] } | undefined {
  const version = spawnSync(program, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (version.status !== 0) return undefined;
  const langs = spawnSync(program, ["--list-langs"], { encoding: "utf8", timeout: 10_000 });
  const languages = (langs.stdout ?? "")
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => /^[a-z_]+$/i.test(l) && l !== "osd");
  return { version: /tesseract\s+(\S+)/.exec(version.stdout)?.[1] ?? "unknown", languages };
}

const env = { ...process.env, OMP_THREAD_LIMIT: "1" };

/** Runs the program on a file in a fresh folder; answers the folder's outputs by name. */
async function run(program: string, args: (dir: string) => string[], png: Uint8Array, signal: AbortSignal) {
  const dir = await mkdtemp(join(tmpdir(), "flowforge-ocr-"));
  try {
    await writeFile(join(dir, "page.png"), png);
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new ReadAborted("the read was given up before it started"));
      const child = spawn(program, args(dir), { env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        if (stderr.length < 4096) stderr += chunk.toString();
      });
      const onAbort = () => child.kill("SIGKILL");
      signal.addEventListener("abort", onAbort, { once: true });
      child.on("error", reject);
      child.on("close", (code) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) reject(new ReadAborted(String(signal.reason ?? "the read was given up")));
        else if (code === 0) resolve();
        else reject(Object.assign(new Error(`tesseract exited with ${code}: ${stderr.trim()}`), { stderr }));
      });
    });
    return dir;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Creates the engine, given what probeTesseract found. */
export function createTesseractNative(options: {
  program: string;
  version: string;
  languages: string[];
  concurrency: number;
}): OcrEngine {
  const { program } = options;
  return {
    name: "tesseract",
    version: options.version,
    languages: options.languages,
    concurrency: options.concurrency,

    async read(png: Uint8Array, o: ReadOptions): Promise<PageRead> {
      const formats = ["txt", "tsv", ...(o.hocr ? ["hocr"] : []), ...(o.pdf ? ["pdf"] : [])];
      const dir = await run(
        program,
        (d) => [join(d, "page.png"), join(d, "out"), "-l", o.languages.join("+"), ...formats],
        png,
        o.signal,
      );
      try {
        const [text, tsv, hocr, pdf] = await Promise.all([
          readFile(join(dir, "out.txt"), "utf8"),
          readFile(join(dir, "out.tsv"), "utf8"),
          o.hocr ? readFile(join(dir, "out.hocr"), "utf8") : undefined,
          o.pdf ? readFile(join(dir, "out.pdf")) : undefined,
        ]);
        // The native program ends a page's text with a form feed; tesseract.js does not.
        return { text: text.replace(/\f$/, ""), tsv, hocr, pdf: pdf && new Uint8Array(pdf) };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    async orientation(png: Uint8Array, signal: AbortSignal): Promise<number> {
      const dir = await mkdtemp(join(tmpdir(), "flowforge-osd-"));
      try {
        await writeFile(join(dir, "page.png"), png);
        const out = await new Promise<string>((resolve) => {
          // Exit status 1 with "Too few characters" is an answer too: upright as far as it can tell.
          const child = execFile(program, [join(dir, "page.png"), "-", "--psm", "0"], { env, signal }, (_, stdout) =>
            resolve(String(stdout ?? "")),
          );
          child.on("error", () => resolve(""));
        });
        if (signal.aborted) throw new ReadAborted(String(signal.reason ?? "the read was given up"));
        // "Rotate: N" is the clockwise turn that makes the page upright.
        const degrees = Number(/Rotate:\s*(\d+)/.exec(out)?.[1] ?? 0);
        const confidence = Number(/Orientation confidence:\s*([\d.]+)/.exec(out)?.[1] ?? 0);
        return confidence > 0.5 ? degrees % 360 : 0;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    async close() {},
  };
}
