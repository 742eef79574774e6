/** A VectorService on the embedded PGlite with pgvector (as `npm start` runs it), called in-process. */
import { VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { startEmbeddedPostgres } from "#db/pglite-server.js";
import { createSql } from "#db/sql.js";
import { tenantClient } from "#test/support/in-process.js";
export { seeded } from "#test/support/random.js";
import { createPgvectorStore, setupPgvector } from "../pgvector.js";
import { createVectorService, type VectorServiceOptions } from "../service.js";
import { createQdrantStore } from "../qdrant.js";
import type { VectorStore } from "../store.js";

/** The stores the contract suite runs against: pgvector on PGlite always. */
export async function pgliteStore(): Promise<{ store: VectorStore; close(): Promise<void> }> {
  const pg = await startEmbeddedPostgres();
  const sql = createSql(pg.url, { max: 4 });
  await setupPgvector(sql);
  return {
    store: createPgvectorStore(sql),
    async close() {
      await sql.end();
      await pg.stop();
    },
  };
}

/** pgvector in the PostgreSQL at `url` (it must have the extension), in a schema of its own. */
export async function postgresStore(url: string): Promise<{ store: VectorStore; close(): Promise<void> }> {
  const schema = `ff_vec_${Math.random().toString(36).slice(2, 10)}`;
  const admin = createSql(url, { max: 1 });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const sql = createSql(url, { max: 4, schema: `${schema},public` });
  await setupPgvector(sql);
  return {
    store: createPgvectorStore(sql),
    async close() {
      await sql.end();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** A VectorService client over `store`, acting for the tenant each call names. */
export function vectorClient(store: VectorStore, options: Omit<VectorServiceOptions, "store"> = {}) {
  return tenantClient(VectorService, createVectorService({ store, ...options }));
}

/**
 * The Qdrant at `url`, its tenants made this run's own (a shared server keeps other runs'
 * collections apart), their collections deleted on close.
 */
export async function qdrantStore(url: string): Promise<{ store: VectorStore; close(): Promise<void> }> {
  const inner = createQdrantStore({ url, apiKey: process.env.QDRANT_API_KEY || undefined });
  const run = `test-${Math.random().toString(36).slice(2, 10)}`;
  const tenants = new Set<string>();
  const own = (tenant: string) => {
    tenants.add(tenant);
    return `${run}:${tenant}`;
  };
  const store = new Proxy(inner, {
    get: (target, property: keyof VectorStore) => {
      const value = target[property];
      return typeof value === "function" && property !== "close"
        ? (tenant: string, ...rest: unknown[]) => (value as (...a: unknown[]) => unknown)(own(tenant), ...rest)
        : value;
    },
  });
  return {
    store,
    async close() {
      for (const tenant of tenants)
        for (const c of await inner.listCollections(`${run}:${tenant}`))
          await inner.deleteCollection(`${run}:${tenant}`, c.name);
    },
  };
}
