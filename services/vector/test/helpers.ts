/** A VectorService on the embedded PGlite with pgvector (as `npm start` runs it), called in-process. */
import { VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { startEmbeddedPostgres } from "#db/pglite-server.js";
import { createSql } from "#db/sql.js";
import { tenantClient } from "#test/support/in-process.js";
import { createPgvectorStore, setupPgvector } from "../pgvector.js";
import { createVectorService, type VectorServiceOptions } from "../service.js";
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

/** A VectorService client over `store`, acting for the tenant each call names. */
export function vectorClient(store: VectorStore, options: Omit<VectorServiceOptions, "store"> = {}) {
  return tenantClient(VectorService, createVectorService({ store, ...options }));
}

/** A seeded pseudo-random generator (mulberry32), for data the tests can repeat. */
export function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
