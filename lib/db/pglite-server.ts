/**
 * Embedded PostgreSQL: PGlite in a data directory, served over the Postgres wire protocol on
 * loopback so every process uses the same postgres.js code as in production.
 */
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { serveWire } from "./pglite-wire.js";

/** A running embedded database. */
export interface EmbeddedPostgres {
  /** postgres:// URL of the wire-protocol server. */
  url: string;
  /** Stops the server and closes the database. */
  stop(): Promise<void>;
}

/** Options for startEmbeddedPostgres. */
export interface EmbeddedPostgresOptions {
  /** Directory for the database files; in memory when unset. */
  dataDir?: string;
  /** Port on 127.0.0.1; 0 picks a free one. */
  port?: number;
  /** A template made by makeTemplate, copied into a new `dataDir` instead of initialising it. */
  template?: string;
}

/**
 * A data directory PGlite has initialised (what `initdb` makes: seconds of CPU in WebAssembly),
 * stamped with the PGlite version that made it. `npm run build` makes one in dist/, and a new
 * embedded database starts as a copy of it.
 */
export async function makeTemplate(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  const db = await PGlite.create({ dataDir: dir, extensions: { vector } });
  await db.close();
  await writeFile(join(dir, stampFile), pgliteVersion());
}

/** Whether `dir` is a template made by this PGlite version. */
export function isTemplate(dir: string): boolean {
  try {
    return readFileSync(join(dir, stampFile), "utf8") === pgliteVersion();
  } catch {
    return false;
  }
}

const stampFile = "FLOWFORGE_TEMPLATE";

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve("@electric-sql/pglite"));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
}

/** Starts PGlite and its wire-protocol server. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir) {
    // A new data directory starts as a copy of the template, when there is one of this version.
    const fresh = !existsSync(join(options.dataDir, "PG_VERSION"));
    if (fresh && options.template && isTemplate(options.template)) {
      await cp(options.template, options.dataDir, { recursive: true });
      await rm(join(options.dataDir, stampFile));
    } else {
      await mkdir(options.dataDir, { recursive: true });
    }
  }
  // pgvector is loaded so the vector service finds it, as it would in production's PostgreSQL.
  const db = await PGlite.create({ dataDir: options.dataDir, extensions: { vector } });
  const server = await serveWire(db, options.port ?? 0);
  return {
    url: `postgres://postgres@127.0.0.1:${server.port}/postgres?sslmode=disable`,
    async stop() {
      await server.close();
      await db.close();
    },
  };
}
