/**
 * The pgvector store: PostgreSQL (or the embedded PGlite with its pgvector extension) holding a
 * table per collection (`vector_points_<id>`: id, vector, jsonb payload, text and its tsvector)
 * with an HNSW index of the collection's distance, a GIN index on the payload for filters and one
 * on the text for keywords. Filtered searches use pgvector's iterative index scans, so k matches
 * come back when k exist, not fewer because the index walked past them.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type postgres from "postgres";
import type { Sql } from "#db/sql.js";
import { type CheckedFilter, filterSql } from "./filter.js";
import {
  type CollectionInfo,
  CollectionExists,
  CollectionNotFound,
  type CollectionSpec,
  type DistanceName,
  type KeywordQuery,
  type PointIn,
  type PointOut,
  type Selector,
  type VectorQuery,
  type VectorStore,
  type WithParts,
} from "./store.js";

/** Per distance: pgvector's operator and operator class, and its distance as our score. */
const distances: Record<
  DistanceName,
  { op: string; ops: string; score: (d: number) => number; limit: (t: number) => number }
> = {
  cosine: { op: "<=>", ops: "vector_cosine_ops", score: (d) => 1 - d, limit: (t) => 1 - t },
  dot: { op: "<#>", ops: "vector_ip_ops", score: (d) => -d, limit: (t) => -t },
  euclidean: { op: "<->", ops: "vector_l2_ops", score: (d) => d, limit: (t) => t },
  manhattan: { op: "<+>", ops: "vector_l1_ops", score: (d) => d, limit: (t) => t },
};

/** How long a collection's settings are kept without asking the database again, and how many. */
const knownMs = 2000;
const maxKnown = 10_000;

/** A filter keeping at most this many points is searched exactly rather than through the index. */
const fullScanThreshold = 5000;

/** The most index tuples an iterative scan visits looking for filter matches. */
const maxScanTuples = 50_000;

interface CollectionRow {
  id: string;
  name: string;
  dimension: number;
  distance: DistanceName;
  m: number;
  ef_construction: number;
}

const vectorText = (v: number[]) => `[${v.join(",")}]`;

/** Creates the tables the store needs (once per database; safe from several processes). */
export async function setupPgvector(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(7242032)`;
    await tx`CREATE EXTENSION IF NOT EXISTS vector`;
    await tx`
      CREATE TABLE IF NOT EXISTS vector_collections (
        id              bigserial PRIMARY KEY,
        tenant_id       text NOT NULL,
        name            text NOT NULL,
        dimension       integer NOT NULL,
        distance        text NOT NULL,
        m               integer NOT NULL,
        ef_construction integer NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, name)
      )`;
  });
}

/** A pgvector store over `sql` (its tables set up by setupPgvector). */
export function createPgvectorStore(sql: Sql): VectorStore {
  const table = (c: CollectionRow) => sql(`vector_points_${c.id}`);

  // Collections by tenant and name, kept briefly: every call needs one, and they rarely change.
  // A collection dropped by another replica meanwhile is found missing by its table (gone()).
  const known = new Map<string, { row: CollectionRow; until: number }>();
  const keyOf = (tenant: string, name: string) => `${tenant}\0${name}`;
  async function find(tenant: string, name: string): Promise<CollectionRow | undefined> {
    const hit = known.get(keyOf(tenant, name));
    if (hit && hit.until > Date.now()) return hit.row;
    const [row] = await sql<CollectionRow[]>`
      SELECT id::text AS id, name, dimension, distance, m, ef_construction
      FROM vector_collections WHERE tenant_id = ${tenant} AND name = ${name}`;
    if (row) {
      if (known.size >= maxKnown) known.clear();
      known.set(keyOf(tenant, name), { row, until: Date.now() + knownMs });
    } else known.delete(keyOf(tenant, name));
    return row;
  }
  const forget = (tenant: string, name: string) => known.delete(keyOf(tenant, name));
  async function collection(tenant: string, name: string): Promise<CollectionRow> {
    const row = await find(tenant, name);
    if (!row) throw new CollectionNotFound(name);
    return row;
  }
  /** A dropped table under a concurrent call: the collection is gone. */
  const gone = (name: string) => (err: unknown) => {
    if ((err as { code?: string }).code === "42P01") {
      for (const [key, { row }] of known) if (row.name === name) known.delete(key);
      throw new CollectionNotFound(name);
    }
    throw err;
  };

  async function info(c: CollectionRow): Promise<CollectionInfo> {
    const [stats] = await sql<{ points: string; index_bytes: string | null }[]>`
      SELECT (SELECT count(*) FROM ${table(c)})::text AS points,
             pg_relation_size(to_regclass(${`vector_points_${c.id}_hnsw`}))::text AS index_bytes`.catch(gone(c.name));
    return {
      name: c.name,
      dimension: c.dimension,
      distance: c.distance,
      m: c.m,
      efConstruction: c.ef_construction,
      points: Number(stats.points),
      indexState: "ready",
      indexBytes: Number(stats.index_bytes ?? 0),
    };
  }

  const selectorSql = (which: Selector) =>
    "ids" in which ? sql`id = ANY(${which.ids}::text[])` : filterSql(sql, which.filter);

  function rowOut(
    r: { id: string; d?: number; payload?: JsonObject; text?: string; embedding?: string },
    parts: WithParts,
    score = 0,
  ): PointOut {
    return {
      id: r.id,
      score,
      ...(parts.payload && { payload: r.payload ?? {}, text: r.text ?? "" }),
      ...(parts.vector && r.embedding !== undefined && { vector: JSON.parse(r.embedding) as number[] }),
    };
  }
  const columns = (parts: WithParts) =>
    parts.vector ? sql`id, payload, text, embedding::text AS embedding` : sql`id, payload, text`;

  return {
    kind: "pgvector",

    async createCollection(tenant, spec: CollectionSpec) {
      return sql.begin(async (tx) => {
        const [row] = await tx<CollectionRow[]>`
          INSERT INTO vector_collections (tenant_id, name, dimension, distance, m, ef_construction)
          VALUES (${tenant}, ${spec.name}, ${spec.dimension}, ${spec.distance}, ${spec.m}, ${spec.efConstruction})
          ON CONFLICT (tenant_id, name) DO NOTHING
          RETURNING id::text AS id, name, dimension, distance, m, ef_construction`;
        if (!row) throw new CollectionExists(spec.name);
        const name = `vector_points_${row.id}`;
        await tx`
          CREATE TABLE ${tx(name)} (
            id        text PRIMARY KEY,
            embedding vector(${tx.unsafe(String(spec.dimension))}) NOT NULL,
            payload   jsonb NOT NULL DEFAULT '{}',
            text      text NOT NULL DEFAULT '',
            tsv       tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
          )`;
        await tx`
          CREATE INDEX ${tx(`${name}_hnsw`)} ON ${tx(name)}
          USING hnsw (embedding ${tx.unsafe(distances[spec.distance].ops)})
          WITH (m = ${tx.unsafe(String(spec.m))}, ef_construction = ${tx.unsafe(String(spec.efConstruction))})`;
        await tx`CREATE INDEX ${tx(`${name}_payload`)} ON ${tx(name)} USING gin (payload jsonb_path_ops)`;
        await tx`CREATE INDEX ${tx(`${name}_tsv`)} ON ${tx(name)} USING gin (tsv)`;
        return { ...spec, points: 0, indexState: "ready", indexBytes: 0 };
      });
    },

    async listCollections(tenant) {
      const rows = await sql<CollectionRow[]>`
        SELECT id::text AS id, name, dimension, distance, m, ef_construction
        FROM vector_collections WHERE tenant_id = ${tenant} ORDER BY name`;
      return Promise.all(rows.map(info));
    },

    async getCollection(tenant, name) {
      const row = await find(tenant, name);
      return row && info(row);
    },

    async findCollection(tenant, name) {
      const row = await find(tenant, name);
      return (
        row && {
          name: row.name,
          dimension: row.dimension,
          distance: row.distance,
          m: row.m,
          efConstruction: row.ef_construction,
        }
      );
    },

    async deleteCollection(tenant, name) {
      forget(tenant, name);
      return sql.begin(async (tx) => {
        const [row] = await tx<{ id: string }[]>`
          DELETE FROM vector_collections WHERE tenant_id = ${tenant} AND name = ${name} RETURNING id::text AS id`;
        if (!row) return false;
        await tx`DROP TABLE IF EXISTS ${tx(`vector_points_${row.id}`)}`;
        return true;
      });
    },

    async upsert(tenant, name, points: PointIn[]) {
      const c = await collection(tenant, name);
      // One statement: every point or none.
      const result = await sql`
        INSERT INTO ${table(c)} (id, embedding, payload, text)
        SELECT * FROM unnest(
          ${points.map((p) => p.id)}::text[],
          ${points.map((p) => vectorText(p.vector))}::text[]::vector[],
          ${points.map((p) => JSON.stringify(p.payload))}::text[]::jsonb[],
          ${points.map((p) => p.text)}::text[])
        ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload, text = EXCLUDED.text`.catch(
        gone(name),
      );
      return result.count;
    },

    async get(tenant, name, ids, parts) {
      const c = await collection(tenant, name);
      const rows = await sql<{ id: string; payload: JsonObject; text: string; embedding?: string }[]>`
        SELECT ${columns(parts)} FROM ${table(c)} WHERE id = ANY(${ids}::text[])`.catch(gone(name));
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.flatMap((id) => (byId.has(id) ? [rowOut(byId.get(id)!, parts)] : []));
    },

    async delete(tenant, name, which) {
      const c = await collection(tenant, name);
      const result = await sql`DELETE FROM ${table(c)} WHERE ${selectorSql(which)}`.catch(gone(name));
      return result.count;
    },

    async setPayload(tenant, name, which, payload, replace) {
      const c = await collection(tenant, name);
      const value = sql.json(payload as never);
      const result = await sql`
        UPDATE ${table(c)} SET payload = ${replace ? sql`${value}` : sql`payload || ${value}`}
        WHERE ${selectorSql(which)}`.catch(gone(name));
      return result.count;
    },

    async count(tenant, name, filter?: CheckedFilter) {
      const c = await collection(tenant, name);
      const [row] = await sql<{ n: string }[]>`
        SELECT count(*)::text AS n FROM ${table(c)} WHERE ${filterSql(sql, filter)}`.catch(gone(name));
      return Number(row.n);
    },

    async scroll(tenant, name, o) {
      const c = await collection(tenant, name);
      const rows = await sql<{ id: string; payload: JsonObject; text: string; embedding?: string }[]>`
        SELECT ${columns(o.with)} FROM ${table(c)}
        WHERE ${filterSql(sql, o.filter)} ${o.after === undefined ? sql`` : sql`AND id > ${o.after}`}
        ORDER BY id LIMIT ${o.limit}`.catch(gone(name));
      return rows.map((r) => rowOut(r, o.with));
    },

    async search(tenant, name, q: VectorQuery) {
      const c = await collection(tenant, name);
      const d = distances[c.distance];
      const vector = vectorText(q.vector);
      const distance = sql`embedding ${sql.unsafe(d.op)} ${vector}::vector`;
      type Row = { id: string; d: number; payload: JsonObject; text: string; embedding?: string };
      const nearest = (tx: postgres.TransactionSql) => {
        const excluded = q.exclude?.length ? tx`AND id <> ALL(${q.exclude}::text[])` : tx``;
        const threshold = q.threshold === undefined ? tx`` : tx`WHERE d <= ${d.limit(q.threshold)}`;
        // A materialized CTE re-sorts what the relaxed-order scan found, strictly.
        return tx<Row[]>`
          WITH relaxed AS MATERIALIZED (
            SELECT ${columns(q.with)}, ${distance} AS d FROM ${table(c)}
            WHERE ${filterSql(tx, q.filter)} ${excluded}
            ORDER BY ${distance} LIMIT ${q.limit + q.offset}
          )
          SELECT * FROM relaxed ${threshold} ORDER BY d LIMIT ${q.limit} OFFSET ${q.offset}`;
      };
      const settings = (tx: postgres.TransactionSql, exact: boolean) =>
        exact
          ? tx`SELECT set_config('enable_indexscan', 'off', true)`
          : tx`
            SELECT set_config('hnsw.ef_search', ${String(q.efSearch)}, true),
                   set_config('hnsw.iterative_scan', 'relaxed_order', true),
                   set_config('hnsw.max_scan_tuples', ${String(maxScanTuples)}, true)`;
      const rows = await sql
        .begin(async (tx) => {
          // A selective filter is searched exactly over the points it keeps (found through the
          // payload index), as Qdrant's planner does: an HNSW walk would have to visit much of the
          // graph to find them, and could still miss the nearest.
          let exact = q.exact;
          if (!exact && q.filter) {
            const [{ n }] = await tx<{ n: number }[]>`
              SELECT count(*)::int AS n FROM (
                SELECT 1 FROM ${table(c)} WHERE ${filterSql(tx, q.filter)} LIMIT ${fullScanThreshold + 1}) AS kept`;
            exact = n <= fullScanThreshold;
          }
          // Sent together (pipelined): one round trip for the settings and the search.
          const [, found] = await Promise.all([settings(tx, exact), nearest(tx)]);
          return found;
        })
        .catch(gone(name));
      return rows.map((r) => rowOut(r, q.with, d.score(Number(r.d))));
    },

    async keywordSearch(tenant, name, q: KeywordQuery) {
      const c = await collection(tenant, name);
      const rows = await sql<{ id: string; rank: number; payload: JsonObject; text: string; embedding?: string }[]>`
        SELECT ${columns(q.with)}, ts_rank_cd(tsv, query) AS rank
        FROM ${table(c)}, websearch_to_tsquery('simple', ${q.keywords}) AS query
        WHERE tsv @@ query AND ${filterSql(sql, q.filter)}
        ORDER BY rank DESC, id LIMIT ${q.limit}`.catch(gone(name));
      return rows.map((r) => rowOut(r, q.with, Number(r.rank)));
    },

    async close() {},
  };
}
