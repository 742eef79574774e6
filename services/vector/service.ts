/**
 * VectorService over a VectorStore: every request checked (dimension, finite values, ids,
 * payload sizes, limits), search composed from the store's parts (batches, recommendations,
 * reciprocal rank fusion of vector and keyword results, text embedded through LlmService), and
 * documents ingested through the PDF, OCR and LLM services.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { Distance, type Filter, type SearchRequest, type VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { tenantKey } from "#runtime/context.js";
import { check, fieldError, invalidArgument } from "#runtime/errors.js";
import { checkFilter } from "./filter.js";
import { type Ingester, ingestBounds } from "./ingest.js";
import {
  type CollectionInfo,
  CollectionExists,
  CollectionNotFound,
  type DistanceName,
  type PointOut,
  type VectorStore,
  type WithParts,
} from "./store.js";

/** Bounds every call is held to. */
export const vectorBounds = {
  dimension: 2000,
  pointsPerUpsert: 10_000,
  payloadBytes: 64 * 1024,
  textBytes: 64 * 1024,
  idLength: 256,
  ids: 10_000,
  limit: 1000,
  offset: 10_000,
  efSearch: 1000,
  searches: 100,
  scrollLimit: 10_000,
};

/** Defaults of a search and a collection. */
export const vectorDefaults = { limit: 10, efSearch: 100, m: 16, efConstruction: 64, rrfK: 60, scrollLimit: 100 };

/** Embeds texts with a model alias, for the caller's tenant. */
export type Embedder = (texts: string[], model: string, ctx: HandlerContext) => Promise<number[][]>;

/** Options for createVectorService. */
export interface VectorServiceOptions {
  store: VectorStore;
  /** Embeddings for search by text and for ingestion (LlmService over gRPC); none: those fail naming what to set. */
  embed?: Embedder;
  /** Documents into chunks (the PDF and OCR services over gRPC). */
  ingester?: Ingester;
}

const distanceNames: Record<number, DistanceName | undefined> = {
  [Distance.COSINE]: "cosine",
  [Distance.DOT]: "dot",
  [Distance.EUCLIDEAN]: "euclidean",
  [Distance.MANHATTAN]: "manhattan",
};
const distanceOf: Record<DistanceName, Distance> = {
  cosine: Distance.COSINE,
  dot: Distance.DOT,
  euclidean: Distance.EUCLIDEAN,
  manhattan: Distance.MANHATTAN,
};
const namePattern = /^[A-Za-z0-9_-]{1,64}$/;

/** A store's typed failures as the caller's errors. */
function fromStore(err: unknown): never {
  if (err instanceof CollectionNotFound)
    throw new ConnectError(`collection: ${err.message}`, Code.NotFound, undefined, undefined, err);
  if (err instanceof CollectionExists)
    throw new ConnectError(`name: ${err.message}`, Code.AlreadyExists, undefined, undefined, err);
  throw err;
}

/** Checks a vector: `dimension` finite numbers. */
function checkVector(vector: number[], dimension: number, field: string) {
  check(
    vector.length === dimension,
    field,
    `must have ${dimension} values (the collection's dimension), not ${vector.length}`,
  );
  for (let i = 0; i < vector.length; i++)
    if (!Number.isFinite(vector[i]))
      throw invalidArgument(`${field}[${i}]`, "must be a finite number (not NaN or infinite)");
}

const partsOf = (r: { withoutPayload: boolean; withVector: boolean }): WithParts => ({
  payload: !r.withoutPayload,
  vector: r.withVector,
});

function checkIds(ids: string[], field: string) {
  check(ids.length <= vectorBounds.ids, field, `at most ${vectorBounds.ids} ids`);
  for (const [i, id] of ids.entries())
    check(
      id !== "" && id.length <= vectorBounds.idLength,
      `${field}[${i}]`,
      `must be 1 to ${vectorBounds.idLength} characters`,
    );
}

/** Reciprocal rank fusion of ranked lists: each point scores the sum of weight / (k + rank). */
export function fuse(lists: { points: PointOut[]; weight: number }[], k: number): PointOut[] {
  const fused = new Map<string, PointOut>();
  for (const { points, weight } of lists)
    points.forEach((p, rank) => {
      const seen = fused.get(p.id);
      const add = weight / (k + rank + 1);
      if (seen) seen.score += add;
      else fused.set(p.id, { ...p, score: add });
    });
  return [...fused.values()].sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
}

/** Page tokens of Scroll: the last id of the page, opaque to callers. */
const scrollToken = {
  encode: (id: string) => Buffer.from(`after:${id}`).toString("base64url"),
  decode(token: string): string {
    const text = Buffer.from(token, "base64url").toString("utf8");
    if (!text.startsWith("after:") || Buffer.from(text).toString("base64url") !== token)
      throw invalidArgument("page_token", "not a token from a previous page");
    return text.slice("after:".length);
  },
};

/** Creates the VectorService implementation. */
export function createVectorService(options: VectorServiceOptions): ServiceImpl<typeof VectorService> {
  const { store } = options;
  const tenantOf = (ctx: HandlerContext) => ctx.values.get(tenantKey);
  const collection = async (ctx: HandlerContext, name: string) => {
    check(name !== "", "collection", "is required");
    const c = await store.findCollection(tenantOf(ctx), name).catch(fromStore);
    if (!c) throw new ConnectError(`collection: no collection "${name}"`, Code.NotFound);
    return c;
  };
  const filterOf = (f: Filter | undefined, field = "filter") => checkFilter(f, field);
  const embedText = async (ctx: HandlerContext, texts: string[], model: string) => {
    if (!options.embed)
      throw new ConnectError(
        "searching by text needs embeddings: set LLM_ADDR (npm start does) and configure a provider with embeddings in the LLM service",
        Code.FailedPrecondition,
      );
    return options.embed(texts, model || "default", ctx);
  };

  /** One search: vector (given or embedded), keywords, or both fused. */
  async function search(ctx: HandlerContext, name: string, req: SearchRequest, field = "") {
    const at = (f: string) => (field ? `${field}.${f}` : f);
    const c = await collection(ctx, name);
    const limit = req.limit || vectorDefaults.limit;
    check(limit <= vectorBounds.limit, at("limit"), `at most ${vectorBounds.limit}`);
    check(req.offset <= vectorBounds.offset, at("offset"), `at most ${vectorBounds.offset}`);
    const ef = req.efSearch ?? vectorDefaults.efSearch;
    check(ef >= 1 && ef <= vectorBounds.efSearch, at("ef_search"), `must be from 1 to ${vectorBounds.efSearch}`);
    if (req.scoreThreshold !== undefined)
      check(Number.isFinite(req.scoreThreshold), at("score_threshold"), "must be a finite number");
    check(!(req.vector.length > 0 && req.text !== ""), at("text"), "give a vector or a text, not both");
    const filter = filterOf(req.filter, at("filter"));
    const parts = partsOf(req);
    let vector = req.vector.length > 0 ? req.vector : undefined;
    if (req.text !== "") {
      [vector] = await embedText(ctx, [req.text], req.embeddingModel);
      check(
        vector.length === c.dimension,
        at("embedding_model"),
        `makes ${vector.length}-dimensional vectors; the collection's are ${c.dimension}`,
      );
    }
    if (vector) checkVector(vector, c.dimension, at("vector"));
    check(
      vector !== undefined || req.keywords.trim() !== "",
      at("vector"),
      "is required: a vector, a text or keywords",
    );
    const tenant = tenantOf(ctx);
    if (!req.keywords.trim())
      return store
        .search(tenant, name, {
          vector: vector!,
          filter,
          limit,
          offset: req.offset,
          threshold: req.scoreThreshold,
          efSearch: ef,
          exact: req.exact,
          with: parts,
        })
        .catch(fromStore);
    // Hybrid (or keywords alone): each side's best candidates, fused by rank.
    const candidates = Math.min(vectorBounds.limit, Math.max(2 * (limit + req.offset), 20));
    const k = req.fusion?.k || vectorDefaults.rrfK;
    const vectorWeight = req.fusion?.vectorWeight ?? 1;
    const keywordWeight = req.fusion?.keywordWeight ?? 1;
    check(Number.isFinite(vectorWeight) && vectorWeight >= 0, at("fusion.vector_weight"), "must be 0 or more");
    check(Number.isFinite(keywordWeight) && keywordWeight >= 0, at("fusion.keyword_weight"), "must be 0 or more");
    const [byVector, byKeywords] = await Promise.all([
      vector
        ? store.search(tenant, name, {
            vector,
            filter,
            limit: candidates,
            offset: 0,
            threshold: req.scoreThreshold,
            efSearch: Math.max(ef, candidates),
            exact: req.exact,
            with: parts,
          })
        : [],
      store.keywordSearch(tenant, name, { keywords: req.keywords, filter, limit: candidates, with: parts }),
    ]).catch(fromStore);
    return fuse(
      [
        { points: byVector, weight: vectorWeight },
        { points: byKeywords, weight: keywordWeight },
      ],
      k,
    ).slice(req.offset, req.offset + limit);
  }

  const scored = (points: PointOut[]) => points.map((p) => ({ ...p, payload: p.payload as JsonObject | undefined }));

  return {
    async createCollection(req, ctx) {
      check(namePattern.test(req.name), "name", 'must be 1 to 64 letters, digits, "_" or "-"');
      check(
        req.dimension >= 1 && req.dimension <= vectorBounds.dimension,
        "dimension",
        `must be from 1 to ${vectorBounds.dimension}`,
      );
      const distance = distanceNames[req.distance];
      check(
        distance !== undefined,
        "distance",
        "is required: DISTANCE_COSINE, DISTANCE_DOT, DISTANCE_EUCLIDEAN or DISTANCE_MANHATTAN",
      );
      const m = req.hnsw?.m || vectorDefaults.m;
      const efConstruction = req.hnsw?.efConstruction || Math.max(vectorDefaults.efConstruction, 2 * m);
      check(m >= 2 && m <= 100, "hnsw.m", "must be from 2 to 100");
      check(
        efConstruction >= 2 * m && efConstruction <= 1000,
        "hnsw.ef_construction",
        `must be from 2 × m (${2 * m}) to 1000`,
      );
      const c = await store
        .createCollection(tenantOf(ctx), {
          name: req.name,
          dimension: req.dimension,
          distance: distance!,
          m,
          efConstruction,
        })
        .catch(fromStore);
      return { collection: collectionMessage(c) };
    },

    async listCollections(_req, ctx) {
      return { collections: (await store.listCollections(tenantOf(ctx))).map(collectionMessage) };
    },

    async getCollection(req, ctx) {
      check(req.name !== "", "name", "is required");
      const c = await store.getCollection(tenantOf(ctx), req.name);
      if (!c) throw new ConnectError(`name: no collection "${req.name}"`, Code.NotFound);
      return { collection: collectionMessage(c) };
    },

    async deleteCollection(req, ctx) {
      check(req.name !== "", "name", "is required");
      return { deleted: await store.deleteCollection(tenantOf(ctx), req.name) };
    },

    async upsert(req, ctx) {
      check(req.points.length > 0, "points", "is required: at least one point");
      if (req.points.length > vectorBounds.pointsPerUpsert)
        throw new ConnectError(
          `points: at most ${vectorBounds.pointsPerUpsert} a call (got ${req.points.length}); send them in batches`,
          Code.ResourceExhausted,
        );
      const c = await collection(ctx, req.collection);
      const seen = new Set<string>();
      const points = req.points.map((p, i) => {
        const at = `points[${i}]`;
        check(
          p.id !== "" && p.id.length <= vectorBounds.idLength,
          `${at}.id`,
          `must be 1 to ${vectorBounds.idLength} characters`,
        );
        check(!seen.has(p.id), `${at}.id`, `"${p.id}" appears twice in this call`);
        seen.add(p.id);
        checkVector(p.vector, c.dimension, `${at}.vector`);
        const payload = p.payload ?? {};
        const bytes = Buffer.byteLength(JSON.stringify(payload));
        check(
          bytes <= vectorBounds.payloadBytes,
          `${at}.payload`,
          `is ${bytes} bytes, over ${vectorBounds.payloadBytes}`,
        );
        check(
          Buffer.byteLength(p.text) <= vectorBounds.textBytes,
          `${at}.text`,
          `at most ${vectorBounds.textBytes} bytes`,
        );
        check(
          !p.text.includes("\0") && !JSON.stringify(payload).includes("\\u0000"),
          `${at}.payload`,
          "must not hold NUL characters",
        );
        return { id: p.id, vector: p.vector, payload, text: p.text };
      });
      return { upserted: await store.upsert(tenantOf(ctx), req.collection, points).catch(fromStore) };
    },

    async getPoints(req, ctx) {
      checkIds(req.ids, "ids");
      await collection(ctx, req.collection);
      return { points: scored(await store.get(tenantOf(ctx), req.collection, req.ids, partsOf(req)).catch(fromStore)) };
    },

    async deletePoints(req, ctx) {
      check(req.ids.length > 0 !== (req.filter !== undefined), "ids", "give ids or a filter (one of them)");
      checkIds(req.ids, "ids");
      const which = req.filter ? { filter: filterOf(req.filter)! } : { ids: req.ids };
      await collection(ctx, req.collection);
      return { deleted: BigInt(await store.delete(tenantOf(ctx), req.collection, which).catch(fromStore)) };
    },

    async setPayload(req, ctx) {
      check(req.ids.length > 0 !== (req.filter !== undefined), "ids", "give ids or a filter (one of them)");
      checkIds(req.ids, "ids");
      const payload = req.payload ?? {};
      check(
        Buffer.byteLength(JSON.stringify(payload)) <= vectorBounds.payloadBytes,
        "payload",
        `at most ${vectorBounds.payloadBytes} bytes`,
      );
      const which = req.filter ? { filter: filterOf(req.filter)! } : { ids: req.ids };
      await collection(ctx, req.collection);
      const updated = await store
        .setPayload(tenantOf(ctx), req.collection, which, payload, req.replace)
        .catch(fromStore);
      return { updated: BigInt(updated) };
    },

    async count(req, ctx) {
      const filter = filterOf(req.filter);
      await collection(ctx, req.collection);
      return { count: BigInt(await store.count(tenantOf(ctx), req.collection, filter).catch(fromStore)) };
    },

    async scroll(req, ctx) {
      const limit = req.limit || vectorDefaults.scrollLimit;
      check(limit <= vectorBounds.scrollLimit, "limit", `at most ${vectorBounds.scrollLimit}`);
      const after = req.pageToken ? scrollToken.decode(req.pageToken) : undefined;
      const filter = filterOf(req.filter);
      await collection(ctx, req.collection);
      const points = await store
        .scroll(tenantOf(ctx), req.collection, { filter, limit: limit + 1, after, with: partsOf(req) })
        .catch(fromStore);
      const page = points.slice(0, limit);
      return {
        points: scored(page),
        nextPageToken: points.length > limit ? scrollToken.encode(page.at(-1)!.id) : "",
      };
    },

    async search(req, ctx) {
      return { points: scored(await search(ctx, req.collection, req)) };
    },

    async searchBatch(req, ctx) {
      check(req.searches.length > 0, "searches", "is required: at least one search");
      check(req.searches.length <= vectorBounds.searches, "searches", `at most ${vectorBounds.searches}`);
      const results = [];
      for (const [i, s] of req.searches.entries())
        results.push({ points: scored(await search(ctx, req.collection, s, `searches[${i}]`)) });
      return { results };
    },

    async recommend(req, ctx) {
      check(req.positive.length > 0, "positive", "is required: at least one example id");
      checkIds(req.positive, "positive");
      checkIds(req.negative, "negative");
      const limit = req.limit || vectorDefaults.limit;
      check(limit <= vectorBounds.limit, "limit", `at most ${vectorBounds.limit}`);
      const filter = filterOf(req.filter);
      const c = await collection(ctx, req.collection);
      const tenant = tenantOf(ctx);
      const examples = await store
        .get(tenant, req.collection, [...req.positive, ...req.negative], { payload: false, vector: true })
        .catch(fromStore);
      const vectors = new Map(examples.map((p) => [p.id, p.vector!]));
      const mean = (ids: string[], field: string) => {
        const sum = new Array<number>(c.dimension).fill(0);
        ids.forEach((id, i) => {
          const v = vectors.get(id);
          // As Qdrant answers it: an example that is not there is not found, not a malformed request.
          if (!v) throw fieldError(Code.NotFound, `${field}[${i}]`, `no point "${id}" in the collection`);
          for (let j = 0; j < sum.length; j++) sum[j] += v[j] / ids.length;
        });
        return sum;
      };
      const positive = mean(req.positive, "positive");
      // Qdrant's average-vector strategy: towards the positives, away from the negatives.
      const query =
        req.negative.length === 0 ? positive : positive.map((p, j) => p + (p - mean(req.negative, "negative")[j]));
      const points = await store
        .search(tenant, req.collection, {
          vector: query,
          filter,
          limit,
          offset: 0,
          efSearch: Math.max(vectorDefaults.efSearch, limit),
          exact: false,
          with: partsOf(req),
          exclude: [...req.positive, ...req.negative],
        })
        .catch(fromStore);
      return { points: scored(points) };
    },

    async ingest(req, ctx) {
      check(req.documents.length > 0, "documents", "is required: at least one document");
      check(req.documents.length <= ingestBounds.documents, "documents", `at most ${ingestBounds.documents}`);
      if (!options.ingester)
        throw new ConnectError(
          "ingestion needs the PDF and LLM services: set PDF_ADDR and LLM_ADDR (npm start does)",
          Code.FailedPrecondition,
        );
      const c = await collection(ctx, req.collection);
      return options.ingester.ingest(req, c, ctx, {
        embed: (texts) => embedText(ctx, texts, req.embeddingModel),
        upsert: (points) => store.upsert(tenantOf(ctx), req.collection, points).catch(fromStore),
      });
    },
  };
}

function collectionMessage(c: CollectionInfo) {
  return {
    name: c.name,
    dimension: c.dimension,
    distance: distanceOf[c.distance],
    hnsw: { m: c.m, efConstruction: c.efConstruction },
    points: BigInt(c.points),
    indexState: c.indexState,
    indexBytes: BigInt(c.indexBytes),
  };
}
