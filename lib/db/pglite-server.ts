/**
 * Embedded PostgreSQL: PGlite in a data directory, served over the Postgres wire protocol on
 * loopback so every process uses the same postgres.js code as in production.
 */
import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

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
  /** Concurrent wire connections accepted. Default 16. */
  maxConnections?: number;
}

/** Starts PGlite and its wire-protocol server. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: options.port ?? 0, maxConnections: options.maxConnections ?? 16 });
  await server.start();
  const [, port] = server.getServerConn().split(":");
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
