/**
 * `npm run build` (run by `npm install`): compiles the sources into `dist/` as JavaScript
 * (tsconfig.build.json: emit only; `npm run typecheck` checks the types) and the TypeScript SDK,
 * bundles each process's
 * entry point (scripts/bundle.ts), builds the web console (web/, into dist/web), copies what the code
 * reads at run time beside it (SQL migrations, the OpenAPI document), writes dist/package.json
 * so `#runtime/*` and the other import aliases resolve inside dist/, and makes the embedded
 * database's template (an initialised PGlite data directory) once per PGlite version.
 */
import { execFileSync } from "node:child_process";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTemplate, makeTemplate } from "#db/pglite-server.js";
import { builtStamp } from "./fresh.js";
import { bundle } from "./bundle.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin/tsc");
// Every file emitted afresh: the entry points were overwritten by their bundles last time.
rmSync(join(dist, ".tsbuildinfo"), { force: true });
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
// The TypeScript SDK and its `flowforge` command (sdk/typescript/dist), as `npm pack` there builds it.
execFileSync(process.execPath, [tsc, "-p", join(root, "sdk/typescript/tsconfig.json")], { stdio: "inherit" });
// The web console: static files into dist/web (web/vite.config.ts), served by the gateway at `/`.
const vite = join(dirname(createRequire(import.meta.url).resolve("vite/package.json")), "bin/vite.js");
execFileSync(process.execPath, [vite, "build", "--config", join(root, "web/vite.config.ts")], { stdio: "inherit" });
for (const asset of ["lib/db/migrations", "gen/openapi/openapi.json"])
  cpSync(join(root, asset), join(dist, asset), { recursive: true });
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  version: string;
  imports: Record<string, string>;
};
// The aliases point at the same folders inside dist/; tests are not compiled.
const imports = Object.fromEntries(Object.entries(pkg.imports).filter(([alias]) => alias !== "#test/*"));
writeFileSync(
  join(dist, "package.json"),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, type: "module", private: true, imports }, null, 2)}\n`,
);
// After dist/package.json: the bundler resolves the `#…` aliases of the compiled files through it
// (without it, through the checkout's package.json, to the TypeScript sources).
await bundle(dist);
// A new embedded database starts as a copy of this (lib/db/pglite-server.ts); made once per PGlite version.
const template = join(dist, "pglite-template");
if (!isTemplate(template)) await makeTemplate(template);
writeFileSync(join(root, builtStamp), `${new Date().toISOString()}\n`);
