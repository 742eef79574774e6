/**
 * Embedded PostgreSQL: PGlite in a data directory, served over the Postgres wire protocol on
 * loopback so every process uses the same postgres.js code as in production.
 */
import { mkdir } from "node:fs/promises";
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
}

/** Starts PGlite and its wire-protocol server. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
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
