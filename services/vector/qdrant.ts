/**
 * The Qdrant store (the architecture's choice, `QDRANT_URL`), through Qdrant's official REST
 * client. A tenant's collection is the Qdrant collection `ff_<tenant hash>_<name>`, so tenants
 * never meet; a point's id becomes a UUID derived from it (Qdrant takes only UUIDs and integers),
 * and its payload holds ours beside the id and text: `{id, payload, text}`. Filters are our checked
 * filters translated to Qdrant's (keys under `payload.`); keyword search is Qdrant's full-text
 * index on `text`, ranked here by how often the words occur.
 *
 * Where Qdrant differs from pgvector: a cosine collection returns vectors normalised (Qdrant stores
 * them so); `exists` treats an empty list as absent (Qdrant's is_empty); scroll pages go in the
 * order of the derived UUIDs, not of the ids; keyword search takes plain words (no phrases, `-`
 * or `or`).
 */
import { createHash } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { QdrantClient, type Schemas } from "@qdrant/js-client-rest";
import type { CheckedCondition, CheckedFilter } from "./filter.js";
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

type QFilter = Schemas["Filter"];
type QCondition = Schemas["Condition"];

const toQdrant: Record<DistanceName, Schemas["Distance"]> = {
  cosine: "Cosine",
  dot: "Dot",
  euclidean: "Euclid",
  manhattan: "Manhattan",
};
const fromQdrant = Object.fromEntries(Object.entries(toQdrant).map(([k, v]) => [v, k])) as Record<string, DistanceName>;

/** The UUID Qdrant holds a point under: a name-based (version 5 style) UUID of our id. */
export function pointUuid(id: string): string {
  const h = createHash("sha1").update("flowforge.vector\0").update(id).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The Qdrant collection holding a tenant's collection. */
export function collectionName(tenant: string, name: string): string {
  return `${tenantPrefix(tenant)}${name}`;
}
const tenantPrefix = (tenant: string) => `ff_${createHash("sha256").update(tenant).digest("hex").slice(0, 20)}_`;

/** Our checked filter as Qdrant's, over the payload kept under `payload.`. */
export function qdrantFilter(filter: CheckedFilter): QFilter {
  const key = (path: string[]) => `payload.${path.join(".")}`;
  const condition = (c: CheckedCondition): QCondition => {
    switch (c.kind) {
      case "filter":
        return qdrantFilter(c.filter);
      case "match": {
        // Qdrant matches keywords, integers and booleans exactly; a fraction by a closed range.
        const k = key(c.path);
        const strings = c.values.filter((v): v is string => typeof v === "string");
        const integers = c.values.filter((v): v is number => typeof v === "number" && Number.isInteger(v));
        const parts: QCondition[] = [];
        if (strings.length)
          parts.push({ key: k, match: strings.length === 1 ? { value: strings[0] } : { any: strings } });
        if (integers.length)
          parts.push({ key: k, match: integers.length === 1 ? { value: integers[0] } : { any: integers } });
        for (const v of c.values) {
          if (typeof v === "boolean") parts.push({ key: k, match: { value: v } });
          else if (typeof v === "number" && !Number.isInteger(v)) parts.push({ key: k, range: { gte: v, lte: v } });
        }
        const any: QCondition = parts.length === 1 ? parts[0] : { should: parts };
        return c.negate ? { must_not: [any] } : any;
      }
      case "range":
      case "date": {
        const range: Record<string, number | string> = {};
        for (const b of c.bounds) range[{ ">": "gt", ">=": "gte", "<": "lt", "<=": "lte" }[b.op]] = b.value;
        return { key: key(c.path), range };
      }
      case "exists":
        return c.exists ? { must_not: [{ is_empty: { key: key(c.path) } }] } : { is_empty: { key: key(c.path) } };
      case "null":
        return c.isNull ? { is_null: { key: key(c.path) } } : { must_not: [{ is_null: { key: key(c.path) } }] };
    }
  };
  const out: QFilter = {};
  if (filter.must.length) out.must = filter.must.map(condition);
  if (filter.should.length) out.should = filter.should.map(condition);
  if (filter.mustNot.length) out.must_not = filter.mustNot.map(condition);
  return out;
}

/** Words as Qdrant's word tokenizer (lowercased) splits them. */
const words = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** Qdrant's collection states in the words pgvector's store uses. */
const states: Record<string, string> = { green: "ready", yellow: "optimizing", grey: "pending", red: "failed" };

/** How long a collection's settings are kept without asking Qdrant again. */
const knownMs = 2000;
/** Points a keyword search ranks at most (those holding every word, by Qdrant's index). */
const keywordCandidates = 2000;

interface Stored {
  id?: string;
  payload?: JsonObject;
  text?: string;
}

/** A Qdrant store over the server at `url`. */
export function createQdrantStore(options: { url: string; apiKey?: string; timeoutMs?: number }): VectorStore {
  const client = new QdrantClient({
    url: options.url,
    apiKey: options.apiKey,
    timeout: options.timeoutMs ?? 30_000,
    checkCompatibility: false,
  });
  const known = new Map<string, { spec: CollectionSpec; until: number }>();

  /** A missing collection answers 404: ours is not found. */
  const notFound = (name: string) => (err: unknown) => {
    if ((err as { status?: number }).status === 404) {
      for (const [k, v] of known) if (v.spec.name === name) known.delete(k);
      throw new CollectionNotFound(name);
    }
    throw err;
  };

  async function describe(tenant: string, name: string): Promise<Schemas["CollectionInfo"] | undefined> {
    return client.getCollection(collectionName(tenant, name)).catch((err: { status?: number }) => {
      if (err.status === 404) return undefined;
      throw err;
    });
  }
  function specOf(name: string, info: Schemas["CollectionInfo"]): CollectionSpec {
    const vectors = info.config.params.vectors as Schemas["VectorParams"];
    return {
      name,
      dimension: vectors.size,
      distance: fromQdrant[vectors.distance],
      m: info.config.hnsw_config.m,
      efConstruction: info.config.hnsw_config.ef_construct,
    };
  }
  async function find(tenant: string, name: string): Promise<CollectionSpec | undefined> {
    const key = collectionName(tenant, name);
    const hit = known.get(key);
    if (hit && hit.until > Date.now()) return hit.spec;
    const info = await describe(tenant, name);
    if (!info) {
      known.delete(key);
      return undefined;
    }
    const spec = specOf(name, info);
    known.set(key, { spec, until: Date.now() + knownMs });
    return spec;
  }
  /** The Qdrant collection of a tenant's collection that exists. */
  async function collection(tenant: string, name: string): Promise<string> {
    if (!(await find(tenant, name))) throw new CollectionNotFound(name);
    return collectionName(tenant, name);
  }
  const infoOf = (name: string, info: Schemas["CollectionInfo"]): CollectionInfo => ({
    ...specOf(name, info),
    points: info.points_count ?? 0,
    indexState: states[info.status] ?? info.status,
    indexBytes: 0,
  });

  const withPayload = (parts: WithParts) => (parts.payload ? true : ["id"]);
  function pointOut(
    p: { payload?: Record<string, unknown> | null; vector?: unknown; score?: number },
    parts: WithParts,
  ): PointOut {
    const stored = (p.payload ?? {}) as Stored;
    return {
      id: stored.id ?? "",
      score: p.score ?? 0,
      ...(parts.payload && { payload: stored.payload ?? {}, text: stored.text ?? "" }),
      ...(parts.vector && Array.isArray(p.vector) && { vector: p.vector as number[] }),
    };
  }
  const selected = (which: Selector) =>
    "ids" in which ? { points: which.ids.map(pointUuid) } : { filter: qdrantFilter(which.filter) };
  /** How many points a selector holds (Qdrant's deletes and payload updates do not say). */
  async function countOf(name: string, which: Selector): Promise<number> {
    if ("ids" in which) {
      const found = await client.retrieve(name, {
        ids: which.ids.map(pointUuid),
        with_payload: false,
        with_vector: false,
      });
      return found.length;
    }
    return (await client.count(name, { filter: qdrantFilter(which.filter), exact: true })).count;
  }

  return {
    kind: "qdrant",

    async createCollection(tenant, spec) {
      const name = collectionName(tenant, spec.name);
      if ((await client.collectionExists(name)).exists) throw new CollectionExists(spec.name);
      await client
        .createCollection(name, {
          vectors: { size: spec.dimension, distance: toQdrant[spec.distance] },
          hnsw_config: { m: spec.m, ef_construct: spec.efConstruction },
        })
        .catch((err: { status?: number }) => {
          // Created by another caller between the check and here.
          if (err.status === 409 || err.status === 400) throw new CollectionExists(spec.name);
          throw err;
        });
      await client.createPayloadIndex(name, {
        wait: true,
        field_name: "text",
        field_schema: { type: "text", tokenizer: "word", lowercase: true },
      });
      return { ...spec, points: 0, indexState: "ready", indexBytes: 0 };
    },

    async listCollections(tenant) {
      const prefix = tenantPrefix(tenant);
      const { collections } = await client.getCollections();
      const names = collections
        .map((c) => c.name)
        .filter((n) => n.startsWith(prefix))
        .map((n) => n.slice(prefix.length))
        .sort();
      const infos = await Promise.all(names.map(async (n) => [n, await describe(tenant, n)] as const));
      return infos.flatMap(([n, info]) => (info ? [infoOf(n, info)] : []));
    },

    async getCollection(tenant, name) {
      const info = await describe(tenant, name);
      return info && infoOf(name, info);
    },

    findCollection: find,

    async deleteCollection(tenant, name) {
      known.delete(collectionName(tenant, name));
      if (!(await client.collectionExists(collectionName(tenant, name))).exists) return false;
      return client.deleteCollection(collectionName(tenant, name));
    },

    async upsert(tenant, name, points: PointIn[]) {
      const target = await collection(tenant, name);
      // One request: Qdrant applies a batch as one operation.
      await client
        .upsert(target, {
          wait: true,
          points: points.map((p) => ({
            id: pointUuid(p.id),
            vector: p.vector,
            payload: { id: p.id, payload: p.payload, text: p.text },
          })),
        })
        .catch(notFound(name));
      return points.length;
    },

    async get(tenant, name, ids, parts) {
      const target = await collection(tenant, name);
      const found = await client
        .retrieve(target, { ids: ids.map(pointUuid), with_payload: withPayload(parts), with_vector: parts.vector })
        .catch(notFound(name));
      const byId = new Map(found.map((p) => [(p.payload as Stored | undefined)?.id, p]));
      return ids.flatMap((id) => (byId.has(id) ? [pointOut(byId.get(id)!, parts)] : []));
    },

    async delete(tenant, name, which) {
      const target = await collection(tenant, name);
      const n = await countOf(target, which).catch(notFound(name));
      await client.delete(target, { wait: true, ...selected(which) }).catch(notFound(name));
      return n;
    },

    async setPayload(tenant, name, which, payload, replace) {
      const target = await collection(tenant, name);
      const n = await countOf(target, which).catch(notFound(name));
      // Replacing sets the whole `payload` key; merging sets keys inside it.
      await client
        .setPayload(target, {
          wait: true,
          ...(replace ? { payload: { payload } } : { payload, key: "payload" }),
          ...selected(which),
        })
        .catch(notFound(name));
      return n;
    },

    async count(tenant, name, filter) {
      const target = await collection(tenant, name);
      const { count } = await client
        .count(target, { exact: true, ...(filter && { filter: qdrantFilter(filter) }) })
        .catch(notFound(name));
      return count;
    },

    async scroll(tenant, name, o) {
      const target = await collection(tenant, name);
      // Qdrant's offset is the first point of the page: the one after `after` is asked for.
      const page = await client
        .scroll(target, {
          ...(o.filter && { filter: qdrantFilter(o.filter) }),
          limit: o.limit + (o.after === undefined ? 0 : 1),
          ...(o.after !== undefined && { offset: pointUuid(o.after) }),
          with_payload: withPayload(o.with),
          with_vector: o.with.vector,
        })
        .catch(notFound(name));
      const points = page.points.map((p) => pointOut(p, o.with));
      return (o.after !== undefined && points[0]?.id === o.after ? points.slice(1) : points).slice(0, o.limit);
    },

    async search(tenant, name, q: VectorQuery) {
      const target = await collection(tenant, name);
      const filter: QFilter = q.filter ? qdrantFilter(q.filter) : {};
      if (q.exclude?.length)
        filter.must_not = [...((filter.must_not as QCondition[]) ?? []), { has_id: q.exclude.map(pointUuid) }];
      const { points } = await client
        .query(target, {
          query: q.vector,
          ...(Object.keys(filter).length && { filter }),
          params: { hnsw_ef: q.efSearch, exact: q.exact },
          limit: q.limit,
          offset: q.offset,
          ...(q.threshold !== undefined && { score_threshold: q.threshold }),
          with_payload: withPayload(q.with),
          with_vector: q.with.vector,
        })
        .catch(notFound(name));
      return points.map((p) => pointOut(p, q.with));
    },

    async keywordSearch(tenant, name, q: KeywordQuery) {
      const target = await collection(tenant, name);
      const terms = [...new Set(words(q.keywords))];
      if (terms.length === 0) return [];
      const must: QCondition[] = [{ key: "text", match: { text: terms.join(" ") } }];
      if (q.filter) must.push(qdrantFilter(q.filter));
      const { points } = await client
        .scroll(target, { filter: { must }, limit: keywordCandidates, with_payload: true, with_vector: q.with.vector })
        .catch(notFound(name));
      const ranked = points.map((p) => {
        const found = words((p.payload as Stored).text ?? "");
        return { p, rank: found.filter((w) => terms.includes(w)).length / Math.max(1, found.length) };
      });
      ranked.sort((a, b) => b.rank - a.rank || ((a.p.payload as Stored).id! < (b.p.payload as Stored).id! ? -1 : 1));
      return ranked.slice(0, q.limit).map(({ p, rank }) => ({ ...pointOut(p, q.with), score: rank }));
    },

    async close() {},
  };
}
