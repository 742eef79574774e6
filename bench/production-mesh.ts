/**
 * The mesh on the production path for the jobs benches: a fresh PostgreSQL database on
 * 127.0.0.1:5432, a nats-server of its own with JetStream, workers in the crypto process.
 */
import { createSql, type Sql } from "#db/sql.js";
import { freshPostgresDatabase } from "#test/support/databases.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";
import { startNats } from "#test/support/nats.js";

/** A running production-path mesh and a small pool on its database. */
export interface ProductionMesh {
  mesh: Mesh;
  sql: Sql;
  /** The environment every process of the mesh was started with (for a second worker, say). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Starts it; `extraEnv` is added to every process's environment. */
export async function startProductionMesh(extraEnv: NodeJS.ProcessEnv = {}): Promise<ProductionMesh> {
  const nats = await startNats();
  const db = await freshPostgresDatabase();
  const env = {
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    LOG_LEVEL: "warn",
    DATABASE_POOL: "16",
    JOB_CONCURRENCY: "128",
    ...extraEnv,
  };
  const mesh = await startMesh(env);
  const sql = createSql(db.url, { max: 2 });
  return {
    mesh,
    sql,
    env,
    async stop() {
      await sql.end();
      await mesh.stop();
      await nats.stop();
      await db.drop();
    },
  };
}
