/**
 * Embedded PostgreSQL: PGlite in a data directory, served over the Postgres wire protocol on
 * loopback so every process uses the same postgres.js code as in production.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { serveWire } from "./pglite-wire.js";
import { migrate, migrations } from "./migrate.js";
import { createSql } from "./sql.js";

/** A running embedded database. */
export interface EmbeddedPostgres {
  /** postgres:// URL of the wire-protocol server (listening before the database is open). */
  url: string;
  /** Resolves once the database is open (clients' statements wait until then); rejects if it fails to. */
  ready: Promise<void>;
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
  /**
   * Resolve once the server listens rather than once the database is open, when opening is quick
   * (an existing data directory, or a copy of the template): clients' first statements wait for
   * it. Never when the database has to be initialised (seconds of WebAssembly: longer than a
   * client's connect timeout on a loaded machine). The launcher starts processes meanwhile.
   */
  listenFirst?: boolean;
}

/**
 * A data directory PGlite has initialised (what `initdb` makes: seconds of CPU in WebAssembly),
 * with FlowForge's migrations applied and pgvector created (as production's database has them),
 * stamped with the PGlite version and the migrations that made it. `npm run build` makes one in
 * dist/, and a new embedded database starts as a copy of it.
 */
export async function makeTemplate(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  const db = await PGlite.create({ dataDir: dir, extensions: { vector } });
  const server = await serveWire(db);
  const sql = createSql(server.url, { max: 1 });
  try {
    await migrate(sql);
    await sql`CREATE EXTENSION IF NOT EXISTS vector`;
  } finally {
    await sql.end();
    await server.close();
    await db.close();
  }
  await writeFile(join(dir, stampFile), templateStamp());
}

/** Whether `dir` is a template made by this PGlite version with today's migrations. */
export function isTemplate(dir: string): boolean {
  try {
    return readFileSync(join(dir, stampFile), "utf8") === templateStamp();
  } catch {
    return false;
  }
}

const stampFile = "FLOWFORGE_TEMPLATE";

/** What a template is made from: the PGlite version and the migrations it has applied. */
function templateStamp(): string {
  return `pglite ${pgliteVersion()}\nmigrations ${migrations().join(" ")}\n`;
}

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve("@electric-sql/pglite"));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
}

/**
 * Copies a directory tree: with the system's `cp` where there is one (a thousand small files: 0.1 s,
 * where node's fs.cp takes 0.4-2 s), else with fs.cp.
 */
async function copyTree(from: string, to: string): Promise<void> {
  try {
    await promisify(execFile)("cp", ["-R", `${from}/.`, to]);
  } catch {
    await rm(to, { recursive: true, force: true });
    await cp(from, to, { recursive: true });
  }
}

/** Starts PGlite and its wire-protocol server. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const { dataDir, template } = options;
  const fresh = !dataDir || !existsSync(join(dataDir, "PG_VERSION"));
  const fromTemplate = dataDir !== undefined && fresh && template !== undefined && isTemplate(template);
  const opening = (async () => {
    if (dataDir) {
      // A new data directory starts as a copy of the template, when there is one of this version.
      if (fromTemplate) {
        await copyTree(template, dataDir);
        await rm(join(dataDir, stampFile));
      } else {
        await mkdir(dataDir, { recursive: true });
      }
    }
    // pgvector is loaded so the vector service finds it, as it would in production's PostgreSQL.
    return PGlite.create({ dataDir, extensions: { vector } });
  })();
  const server = await serveWire(opening, options.port ?? 0);
  const ready = opening.then(() => undefined);
  ready.catch(() => {}); // told to whoever awaits it, and to every client
  if (!options.listenFirst || (fresh && !fromTemplate)) {
    try {
      await ready;
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  return {
    url: server.url,
    ready,
    async stop() {
      await server.close();
      await (await opening.catch(() => undefined))?.close();
    },
  };
}
