/**
 * The bundling step of `npm run build`: each entry point of the compiled code (a capability
 * process, the gateway, the launcher) becomes one module plus shared chunks loaded on demand, so a
 * process starts without resolving and reading some 400 files (start-up CPU and idle memory: see
 * bench/README.md). esbuild writes the bundles over the compiled entry points, chunks beside them
 * in dist/chunks/; every other compiled file stays where it is (worker threads load those).
 *
 * Left outside the bundles, loaded from node_modules as before: packages with native code,
 * WebAssembly or files they read beside themselves, and those OpenTelemetry instruments
 * (grpc-js, pino, ioredis: patched as they load, so they must load as packages, after the SDK).
 */
import { build, type Plugin } from "esbuild";
import { rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, relative } from "node:path";

/** The entry points, relative to dist/: every output sits one folder below dist/. */
// (scripts/start.js stays as compiled: it may rebuild dist/, chunks included, before it loads the launcher.)
export const bundledEntries = ["services/main.js", "gateway/main.js", "scripts/launch.js"];

/** Packages loaded from node_modules rather than bundled (see above). */
const external = [
  // OpenTelemetry and what its instrumentations patch.
  "@opentelemetry/*",
  "import-in-the-middle",
  "require-in-the-middle",
  "@grpc/grpc-js",
  "pino",
  "ioredis",
  // Native code, WebAssembly, worker scripts or data files found beside the package.
  "@electric-sql/*",
  "@napi-rs/*",
  "@node-llama-cpp/*",
  "node-llama-cpp",
  "@tesseract.js-data/*",
  "tesseract.js",
  "argon2",
  "sharp",
  "sharp-phash",
  "piscina",
  "playwright-core",
  "pdfmake",
  "unpdf",
  "swagger-ui-dist",
];

/**
 * `import.meta.url` in a bundled module is the bundle's, not the module's: each is replaced by the
 * module's own URL in dist/ (from `__ffDist`, the bundle's parent folder), so what a module reads
 * or starts beside itself (migrations, worker threads, the OpenAPI document) is where it was.
 */
function ownUrls(dist: string): Plugin {
  return {
    name: "own-import-meta-url",
    setup(b) {
      // Only the compiled files and packages belong in a bundle: a TypeScript source reached
      // (an alias resolved through the checkout's package.json) would carry the wrong URL.
      b.onLoad({ filter: /\.[cm]?tsx?$/ }, ({ path }) =>
        path.includes("/node_modules/")
          ? undefined
          : { errors: [{ text: `${path} is a source file: the bundle takes the compiled files in ${dist}` }] },
      );
      b.onLoad({ filter: /\.js$/ }, async ({ path }) => {
        if (!path.startsWith(`${dist}/`)) return undefined;
        const contents = await readFile(path, "utf8");
        if (!contents.includes("import.meta.url")) return undefined;
        const own = `new URL(${JSON.stringify(relative(dist, path))}, __ffDist).href`;
        return { contents: contents.replaceAll("import.meta.url", own), loader: "js" };
      });
    },
  };
}

/** Bundles the entry points in `dist` (just compiled by tsc) in place; the previous chunks go. */
export async function bundle(dist: string): Promise<void> {
  rmSync(join(dist, "chunks"), { recursive: true, force: true });
  await build({
    entryPoints: bundledEntries.map((entry) => join(dist, entry)),
    outdir: dist,
    outbase: dist,
    allowOverwrite: true,
    bundle: true,
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    format: "esm",
    platform: "node",
    target: "node20",
    // ESM builds first: UMD wrappers hide their requires from the bundler.
    mainFields: ["module", "main"],
    external,
    // CommonJS packages inside the bundle still call require() for node's own modules.
    banner: {
      js: [
        'import { createRequire as __ffCreateRequire } from "node:module";',
        "const require = __ffCreateRequire(import.meta.url);",
        'const __ffDist = new URL("../", import.meta.url);',
      ].join(" "),
    },
    plugins: [ownUrls(dist)],
    logLevel: "warning",
  });
}
