/**
 * The store contract, through VectorService, run against every store there is: pgvector on the
 * embedded PGlite (as `npm start` runs it) always, a PostgreSQL with pgvector when
 * TEST_PGVECTOR_URL names one, and Qdrant when QDRANT_URL does: collections per tenant, points all or nothing, every filter test, search by each distance
 * (checked against exact search), iterative scans under a selective filter, hybrid search fused
 * by reciprocal rank, recommendations, scroll, and bad input named by field.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { Distance } from "#gen/flowforge/vector/v1/vector_pb.js";
import { asTenant, failure } from "#test/support/in-process.js";
import { fuse } from "../service.js";
import type { VectorStore } from "../store.js";
import { pgliteStore, postgresStore, qdrantStore, seeded, vectorClient } from "./helpers.js";

const stores: [string, typeof pgliteStore][] = [
  ["pgvector on PGlite", pgliteStore],
  ...(process.env.TEST_PGVECTOR_URL
    ? [["pgvector on PostgreSQL", () => postgresStore(process.env.TEST_PGVECTOR_URL!)] as [string, typeof pgliteStore]]
    : []),
  ...(process.env.QDRANT_URL
    ? [["Qdrant", () => qdrantStore(process.env.QDRANT_URL!)] as [string, typeof pgliteStore]]
    : []),
];

describe.each(stores)("%s", (_name, open) => {
  let db: Awaited<ReturnType<typeof pgliteStore>>;
  let store: VectorStore;
  let client: ReturnType<typeof vectorClient>;
  const acme = asTenant("acme");
  const other = asTenant("other");

  beforeAll(async () => {
    db = await open();
    store = db.store;
    client = vectorClient(store);
  }, 60_000);
  afterAll(() => db?.close());

  const ids = (points: { id: string }[]) => points.map((p) => p.id);

  describe("collections", () => {
    it("the acceptance shapes: create, upsert, search, and a filter choosing b", async () => {
      const created = await client.createCollection({ name: "docs", dimension: 3, distance: Distance.COSINE }, acme);
      expect(created.collection).toMatchObject({ name: "docs", dimension: 3, distance: Distance.COSINE, points: 0n });
      expect(created.collection?.hnsw).toMatchObject({ m: 16, efConstruction: 64 });
      await client.upsert(
        {
          collection: "docs",
          points: [
            { id: "a", vector: [1, 0, 0], payload: { k: "x" } },
            { id: "b", vector: [0, 1, 0], payload: { k: "y" } },
          ],
        },
        acme,
      );
      const near = await client.search({ collection: "docs", vector: [0.9, 0.1, 0], limit: 1 }, acme);
      expect(ids(near.points)).toEqual(["a"]);
      expect(near.points[0].payload).toEqual({ k: "x" });
      expect(near.points[0].score).toBeCloseTo(0.9 / Math.hypot(0.9, 0.1), 5);
      const filtered = await client.search(
        {
          collection: "docs",
          vector: [0.9, 0.1, 0],
          limit: 1,
          filter: {
            must: [{ key: "k", test: { case: "match", value: { kind: { case: "stringValue", value: "y" } } } }],
          },
        },
        acme,
      );
      expect(ids(filtered.points)).toEqual(["b"]);
    });

    it("belong to their tenant: another neither sees, counts nor reaches them, and may use the same name", async () => {
      expect((await client.listCollections({}, other)).collections).toEqual([]);
      expect((await failure(client.search({ collection: "docs", vector: [1, 0, 0] }, other))).code).toBe(Code.NotFound);
      expect((await failure(client.count({ collection: "docs" }, other))).code).toBe(Code.NotFound);
      await client.createCollection({ name: "docs", dimension: 2, distance: Distance.EUCLIDEAN }, other);
      expect((await client.getCollection({ name: "docs" }, acme)).collection?.dimension).toBe(3);
      expect((await client.getCollection({ name: "docs" }, other)).collection?.dimension).toBe(2);
      expect((await client.deleteCollection({ name: "docs" }, other)).deleted).toBe(true);
      expect((await client.count({ collection: "docs" }, acme)).count).toBe(2n);
    });

    it("describes its points and index; a duplicate name is already_exists; delete removes it", async () => {
      const { collection } = await client.getCollection({ name: "docs" }, acme);
      expect(collection).toMatchObject({ points: 2n, indexState: "ready" });
      // Qdrant does not say how large an index is.
      if (store.kind === "pgvector") expect(collection!.indexBytes).toBeGreaterThan(0n);
      const again = await failure(
        client.createCollection({ name: "docs", dimension: 3, distance: Distance.COSINE }, acme),
      );
      expect(again.code).toBe(Code.AlreadyExists);
      await client.createCollection({ name: "gone", dimension: 2, distance: Distance.DOT }, acme);
      expect((await client.deleteCollection({ name: "gone" }, acme)).deleted).toBe(true);
      expect((await client.deleteCollection({ name: "gone" }, acme)).deleted).toBe(false);
      expect((await client.listCollections({}, acme)).collections.map((c) => c.name)).toEqual(["docs"]);
    });
  });

  describe("points", () => {
    const c = "points";
    beforeAll(async () => {
      await client.createCollection({ name: c, dimension: 2, distance: Distance.EUCLIDEAN }, acme);
      await client.upsert(
        {
          collection: c,
          points: [
            {
              id: "p1",
              vector: [0, 0],
              payload: {
                city: "Paris",
                price: 10,
                tags: ["red", "big"],
                at: "2026-01-05T10:00:00Z",
                meta: { lang: "fr" },
              },
            },
            {
              id: "p2",
              vector: [1, 0],
              payload: { city: "Berlin", price: 25, tags: ["blue"], at: "2026-02-01", meta: { lang: "de" } },
            },
            { id: "p3", vector: [0, 1], payload: { city: "Paris", price: 40, note: null, at: "not a date" } },
            { id: "p4", vector: [2, 2], payload: { city: "Rome", price: "cheap" } },
            { id: "550e8400-e29b-41d4-a716-446655440000", vector: [5, 5], payload: {} },
          ],
        },
        acme,
      );
    });
    const match = (key: string, value: string | number | boolean) => ({
      key,
      test: {
        case: "match" as const,
        value: {
          kind:
            typeof value === "string"
              ? { case: "stringValue" as const, value }
              : typeof value === "number"
                ? { case: "numberValue" as const, value }
                : { case: "boolValue" as const, value },
        },
      },
    });
    const list = (values: string[]) => ({
      values: values.map((v) => ({ kind: { case: "stringValue" as const, value: v } })),
    });
    const count = async (filter: object) => Number((await client.count({ collection: c, filter }, acme)).count);
    const which = async (filter: object) =>
      ids((await client.scroll({ collection: c, filter, limit: 100 }, acme)).points).sort();

    it("filters by value, list element, any, none, ranges, dates, exists, null, nested keys and nested filters", async () => {
      expect(await which({ must: [match("city", "Paris")] })).toEqual(["p1", "p3"]);
      expect(await which({ must: [match("tags", "red")] })).toEqual(["p1"]);
      expect(await which({ must: [match("price", 25)] })).toEqual(["p2"]);
      expect(await which({ must: [match("meta.lang", "de")] })).toEqual(["p2"]);
      expect(await which({ must: [{ key: "city", test: { case: "any", value: list(["Rome", "Berlin"]) } }] })).toEqual([
        "p2",
        "p4",
      ]);
      expect(await which({ must: [{ key: "city", test: { case: "none", value: list(["Paris"]) } }] })).toEqual([
        "550e8400-e29b-41d4-a716-446655440000",
        "p2",
        "p4",
      ]);
      // A text where a number is expected is no match, never an error.
      expect(await which({ must: [{ key: "price", test: { case: "range", value: { gte: 10, lt: 40 } } }] })).toEqual([
        "p1",
        "p2",
      ]);
      expect(
        await which({
          must: [{ key: "at", test: { case: "dateRange", value: { gte: "2026-01-01", lt: "2026-01-31T00:00:00Z" } } }],
        }),
      ).toEqual(["p1"]);
      expect(await which({ must: [{ key: "tags", test: { case: "exists", value: true } }] })).toEqual(["p1", "p2"]);
      expect(await which({ must: [{ key: "note", test: { case: "isNull", value: true } }] })).toEqual(["p3"]);
      expect(await which({ should: [match("city", "Rome"), match("price", 10)] })).toEqual(["p1", "p4"]);
      expect(await which({ mustNot: [match("city", "Paris"), match("city", "Rome")] })).toEqual([
        "550e8400-e29b-41d4-a716-446655440000",
        "p2",
      ]);
      expect(
        await which({
          must: [
            match("city", "Paris"),
            { test: { case: "filter", value: { should: [match("price", 40), match("tags", "big")] } } },
          ],
        }),
      ).toEqual(["p1", "p3"]);
      expect(await count({ must: [match("city", "Paris")] })).toBe(2);
    });

    it("gets by id in the order asked, with vectors on request; scrolls in pages", async () => {
      const got = await client.getPoints({ collection: c, ids: ["p2", "missing", "p1"], withVector: true }, acme);
      expect(ids(got.points)).toEqual(["p2", "p1"]);
      expect(got.points[0].vector).toEqual([1, 0]);
      const bare = await client.getPoints({ collection: c, ids: ["p1"], withoutPayload: true }, acme);
      expect(bare.points[0].payload).toBeUndefined();
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await client.scroll({ collection: c, limit: 2, pageToken }, acme);
        seen.push(...ids(page.points));
        pageToken = page.nextPageToken;
      } while (pageToken);
      // Every point once; pgvector pages in id order, Qdrant in the order of the UUIDs it holds them under.
      expect([...seen].sort()).toEqual(["550e8400-e29b-41d4-a716-446655440000", "p1", "p2", "p3", "p4"]);
      if (store.kind === "pgvector") expect(seen).toEqual([...seen].sort());
      expect((await failure(client.scroll({ collection: c, pageToken: "bogus" }, acme))).fields).toEqual([
        "page_token",
      ]);
    });

    it("sets payloads (merged or replaced) and deletes by id and by filter", async () => {
      await client.createCollection({ name: "edit", dimension: 2, distance: Distance.COSINE }, acme);
      await client.upsert(
        {
          collection: "edit",
          points: [
            { id: "1", vector: [1, 0], payload: { a: 1, keep: true } },
            { id: "2", vector: [0, 1], payload: { a: 2 } },
            { id: "3", vector: [1, 1], payload: { a: 3 } },
          ],
        },
        acme,
      );
      expect((await client.setPayload({ collection: "edit", ids: ["1"], payload: { b: "x" } }, acme)).updated).toBe(1n);
      expect((await client.getPoints({ collection: "edit", ids: ["1"] }, acme)).points[0].payload).toEqual({
        a: 1,
        keep: true,
        b: "x",
      });
      await client.setPayload({ collection: "edit", ids: ["1"], payload: { only: 1 }, replace: true }, acme);
      expect((await client.getPoints({ collection: "edit", ids: ["1"] }, acme)).points[0].payload).toEqual({ only: 1 });
      expect((await client.deletePoints({ collection: "edit", filter: { must: [match("a", 2)] } }, acme)).deleted).toBe(
        1n,
      );
      expect((await client.deletePoints({ collection: "edit", ids: ["3", "nope"] }, acme)).deleted).toBe(1n);
      expect(ids((await client.scroll({ collection: "edit" }, acme)).points)).toEqual(["1"]);
    });

    it("an upsert is all or nothing: one bad point writes none", async () => {
      const before = (await client.count({ collection: c }, acme)).count;
      const f = await failure(
        client.upsert(
          {
            collection: c,
            points: [
              { id: "new", vector: [1, 1] },
              { id: "bad", vector: [1, Number.NaN] },
            ],
          },
          acme,
        ),
      );
      expect(f.fields).toEqual(["points[1].vector[1]"]);
      expect((await client.count({ collection: c }, acme)).count).toBe(before);
      // Upserting an existing id replaces it.
      await client.upsert({ collection: c, points: [{ id: "p4", vector: [3, 3], payload: { city: "Roma" } }] }, acme);
      expect((await client.getPoints({ collection: c, ids: ["p4"], withVector: true }, acme)).points[0]).toMatchObject({
        vector: [3, 3],
        payload: { city: "Roma" },
      });
    });
  });

  describe("search", () => {
    const dim = 16;
    const n = 600;
    const random = seeded(7);
    const vector = () => Array.from({ length: dim }, () => random() * 2 - 1);

    it.each([
      ["cosine", Distance.COSINE],
      ["dot", Distance.DOT],
      ["euclidean", Distance.EUCLIDEAN],
      ["manhattan", Distance.MANHATTAN],
    ])("%s: the index's top 10 are the exact top 10 (recall), scores ordered best first", async (name, distance) => {
      await client.createCollection({ name: `s-${name}`, dimension: dim, distance }, acme);
      const points = Array.from({ length: n }, (_, i) => ({
        id: `v${i}`,
        vector: vector(),
        payload: { group: i % 100 },
      }));
      await client.upsert({ collection: `s-${name}`, points }, acme);
      let found = 0;
      for (let q = 0; q < 10; q++) {
        const query = vector();
        const approx = await client.search({ collection: `s-${name}`, vector: query, limit: 10, efSearch: 200 }, acme);
        const exact = await client.search({ collection: `s-${name}`, vector: query, limit: 10, exact: true }, acme);
        const truth = new Set(ids(exact.points));
        found += ids(approx.points).filter((id) => truth.has(id)).length;
        const scores = exact.points.map((p) => p.score);
        const better = distance === Distance.COSINE || distance === Distance.DOT ? -1 : 1;
        expect(scores).toEqual([...scores].sort((a, b) => better * (a - b)));
      }
      expect(found / 100).toBeGreaterThanOrEqual(0.9);
    });

    it("a filter matching 1% of points still returns k results (iterative index scans)", async () => {
      const res = await client.search(
        {
          collection: "s-cosine",
          vector: vector(),
          limit: 6,
          filter: {
            must: [{ key: "group", test: { case: "match", value: { kind: { case: "numberValue", value: 42 } } } }],
          },
        },
        acme,
      );
      expect(ids(res.points).sort()).toEqual(["v142", "v242", "v342", "v42", "v442", "v542"].sort());
    });

    it("offset, score threshold and payloads left out", async () => {
      const query = vector();
      const ten = await client.search({ collection: "s-euclidean", vector: query, limit: 10, exact: true }, acme);
      const paged = await client.search(
        { collection: "s-euclidean", vector: query, limit: 5, offset: 5, exact: true },
        acme,
      );
      expect(ids(paged.points)).toEqual(ids(ten.points).slice(5));
      const limit = ten.points[3].score;
      const near = await client.search(
        { collection: "s-euclidean", vector: query, limit: 10, scoreThreshold: limit, exact: true },
        acme,
      );
      expect(near.points.every((p) => p.score <= limit)).toBe(true);
      expect(near.points).toHaveLength(4);
      const bare = await client.search(
        { collection: "s-euclidean", vector: query, limit: 1, withoutPayload: true },
        acme,
      );
      expect(bare.points[0].payload).toBeUndefined();
    });

    it("batch search answers each search in order; recommend moves toward positives and away from negatives", async () => {
      await client.createCollection({ name: "rec", dimension: 2, distance: Distance.COSINE }, acme);
      await client.upsert(
        {
          collection: "rec",
          points: [
            { id: "east", vector: [1, 0] },
            { id: "east2", vector: [0.95, 0.05] },
            { id: "north", vector: [0, 1] },
            { id: "north2", vector: [0.05, 0.95] },
            { id: "west", vector: [-1, 0.1] },
          ],
        },
        acme,
      );
      const batch = await client.searchBatch(
        {
          collection: "rec",
          searches: [
            { vector: [1, 0], limit: 1 },
            { vector: [0, 1], limit: 1 },
          ],
        },
        acme,
      );
      expect(batch.results.map((r) => ids(r.points))).toEqual([["east"], ["north"]]);
      const rec = await client.recommend(
        { collection: "rec", positive: ["east"], negative: ["north"], limit: 2 },
        acme,
      );
      expect(ids(rec.points)[0]).toBe("east2");
      expect(ids(rec.points)).not.toContain("east");
      // An example that is not there: not found (as Qdrant answers), the field still named.
      const missing = await failure(client.recommend({ collection: "rec", positive: ["nope"] }, acme));
      expect(missing.code).toBe(Code.NotFound);
      expect(missing.fields).toEqual(["positive[0]"]);
    });

    it("hybrid: keyword and vector results fused by reciprocal rank, weights per query", async () => {
      await client.createCollection({ name: "hybrid", dimension: 2, distance: Distance.COSINE }, acme);
      await client.upsert(
        {
          collection: "hybrid",
          points: [
            { id: "v", vector: [1, 0], text: "an unrelated note" },
            { id: "k", vector: [0, 1], text: "the quarterly invoice for acme" },
            { id: "both", vector: [0.9, 0.1], text: "invoice reminder" },
          ],
        },
        acme,
      );
      const keywords = await client.search({ collection: "hybrid", keywords: "invoice", limit: 5 }, acme);
      expect(ids(keywords.points).sort()).toEqual(["both", "k"]);
      const hybrid = await client.search({ collection: "hybrid", vector: [1, 0], keywords: "invoice", limit: 3 }, acme);
      expect(ids(hybrid.points)[0]).toBe("both");
      const vectorOnly = await client.search(
        { collection: "hybrid", vector: [1, 0], keywords: "invoice", limit: 3, fusion: { keywordWeight: 0 } },
        acme,
      );
      expect(ids(vectorOnly.points)).toEqual(["v", "both", "k"]);
    });

    it("fuse scores each point by the sum of weight / (k + rank)", () => {
      const a = [
        { id: "x", score: 9 },
        { id: "y", score: 8 },
      ];
      const b = [{ id: "y", score: 1 }];
      const fused = fuse(
        [
          { points: a, weight: 1 },
          { points: b, weight: 2 },
        ],
        60,
      );
      expect(fused.map((p) => p.id)).toEqual(["y", "x"]);
      expect(fused[0].score).toBeCloseTo(1 / 62 + 2 / 61, 12);
    });

    it("search by text without embeddings is failed_precondition naming what to set", async () => {
      const f = await failure(client.search({ collection: "hybrid", text: "invoice" }, acme));
      expect(f.code).toBe(Code.FailedPrecondition);
      expect(f.message).toMatch(/LLM_ADDR/);
    });

    it("search by text embeds through the given embedder, as the caller", async () => {
      const asked: string[][] = [];
      const withEmbeddings = vectorClient(store, {
        embed: async (texts) => {
          asked.push(texts);
          return texts.map(() => [1, 0]);
        },
      });
      const res = await withEmbeddings.search({ collection: "hybrid", text: "invoice", limit: 1 }, acme);
      expect(ids(res.points)).toEqual(["v"]);
      expect(asked).toEqual([["invoice"]]);
    });
  });

  describe("bad input", () => {
    beforeAll(async () => {
      await client.createCollection({ name: "strict", dimension: 3, distance: Distance.COSINE }, acme);
    });
    it.each([
      [
        "a vector of the wrong dimension",
        () => client.upsert({ collection: "strict", points: [{ id: "x", vector: [1, 2] }] }, acme),
        "points[0].vector",
      ],
      [
        "an infinite value",
        () => client.search({ collection: "strict", vector: [1, Number.POSITIVE_INFINITY, 0] }, acme),
        "vector[1]",
      ],
      [
        "a limit of 1,000,000",
        () => client.search({ collection: "strict", vector: [1, 0, 0], limit: 1_000_000 }, acme),
        "limit",
      ],
      ["ef_search 0", () => client.search({ collection: "strict", vector: [1, 0, 0], efSearch: 0 }, acme), "ef_search"],
      [
        "a condition without a key",
        () =>
          client.count({ collection: "strict", filter: { must: [{ test: { case: "exists", value: true } }] } }, acme),
        "filter.must[0].key",
      ],
      [
        "a match on an object",
        () =>
          client.count(
            {
              collection: "strict",
              filter: {
                must: [
                  {
                    key: "a",
                    test: { case: "match", value: { kind: { case: "structValue", value: { fields: {} } } } },
                  },
                ],
              },
            },
            acme,
          ),
        "filter.must[0].match",
      ],
      [
        "a range without bounds",
        () =>
          client.count(
            { collection: "strict", filter: { should: [{ key: "a", test: { case: "range", value: {} } }] } },
            acme,
          ),
        "filter.should[0].range",
      ],
      [
        "a date that is not one",
        () =>
          client.count(
            {
              collection: "strict",
              filter: { must: [{ key: "a", test: { case: "dateRange", value: { gt: "yesterday" } } }] },
            },
            acme,
          ),
        "filter.must[0].date_range.gt",
      ],
      [
        "a duplicate id in one upsert",
        () =>
          client.upsert(
            {
              collection: "strict",
              points: [
                { id: "d", vector: [1, 0, 0] },
                { id: "d", vector: [0, 1, 0] },
              ],
            },
            acme,
          ),
        "points[1].id",
      ],
      [
        "a 10 MB payload",
        () =>
          client.upsert(
            {
              collection: "strict",
              points: [{ id: "big", vector: [1, 0, 0], payload: { blob: "x".repeat(10_000_000) } }],
            },
            acme,
          ),
        "points[0].payload",
      ],
      [
        "a dimension of 0",
        () => client.createCollection({ name: "z", dimension: 0, distance: Distance.COSINE }, acme),
        "dimension",
      ],
      ["no distance", () => client.createCollection({ name: "z", dimension: 3 }, acme), "distance"],
      [
        "a bad name",
        () => client.createCollection({ name: "no spaces", dimension: 3, distance: Distance.COSINE }, acme),
        "name",
      ],
      [
        "hnsw.m of 500",
        () => client.createCollection({ name: "z", dimension: 3, distance: Distance.COSINE, hnsw: { m: 500 } }, acme),
        "hnsw.m",
      ],
    ] as [string, () => Promise<unknown>, string][])("%s is invalid_argument naming %s", async (_name, call, field) => {
      const f = await failure(call());
      expect(f.code).toBe(Code.InvalidArgument);
      expect(f.fields).toEqual([field]);
    });

    it("100,000 points in one call is resource_exhausted, and an unknown collection not_found", async () => {
      const points = Array.from({ length: 100_000 }, (_, i) => ({ id: `${i}`, vector: [1, 0, 0] }));
      expect((await failure(client.upsert({ collection: "strict", points }, acme))).code).toBe(Code.ResourceExhausted);
      expect((await failure(client.search({ collection: "nowhere", vector: [1] }, acme))).code).toBe(Code.NotFound);
      expect((await client.count({ collection: "strict" }, acme)).count).toBe(0n);
    });
  });
});
