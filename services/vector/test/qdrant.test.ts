/**
 * What the Qdrant store sends, checked without a server (the contract suite in vector.test.ts runs
 * against a real Qdrant when QDRANT_URL names one): point ids as the UUIDs Qdrant takes, a
 * tenant's collections apart from another's, and each filter test in Qdrant's filter language.
 */
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { FilterSchema } from "#gen/flowforge/vector/v1/vector_pb.js";
import { checkFilter } from "../filter.js";
import { collectionName, pointUuid, qdrantFilter } from "../qdrant.js";

const value = (v: string | number | boolean) => ({
  kind:
    typeof v === "string"
      ? { case: "stringValue" as const, value: v }
      : typeof v === "number"
        ? { case: "numberValue" as const, value: v }
        : { case: "boolValue" as const, value: v },
});
const translate = (filter: object) => qdrantFilter(checkFilter(create(FilterSchema, filter))!);

describe("Qdrant point ids and collections", () => {
  it("each id is one RFC 4122 name-based UUID, the same every time, distinct ids apart", () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `doc-${i}`);
    const uuids = ids.map(pointUuid);
    for (const u of uuids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uuids).size).toBe(ids.length);
    expect(pointUuid("doc-7")).toBe(uuids[7]);
    // A UUID id is a name like any other: it is not taken as Qdrant's own.
    expect(pointUuid("550e8400-e29b-41d4-a716-446655440000")).not.toBe("550e8400-e29b-41d4-a716-446655440000");
  });

  it("two tenants' collections of one name are two Qdrant collections; the name stays readable", () => {
    const a = collectionName("acme", "docs");
    const b = collectionName("other", "docs");
    expect(a).not.toBe(b);
    expect(a.endsWith("_docs")).toBe(true);
    expect(collectionName("acme", "docs")).toBe(a);
    // Qdrant's collection names: letters, digits, "_" and "-", at most 255.
    expect(a).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
  });
});

describe("filters in Qdrant's language, over the payload kept under payload.", () => {
  it("match: a keyword or an integer exactly, a fraction by a closed range, a boolean by value", () => {
    expect(translate({ must: [{ key: "city", test: { case: "match", value: value("Paris") } }] })).toEqual({
      must: [{ key: "payload.city", match: { value: "Paris" } }],
    });
    expect(translate({ must: [{ key: "meta.n", test: { case: "match", value: value(3) } }] })).toEqual({
      must: [{ key: "payload.meta.n", match: { value: 3 } }],
    });
    expect(translate({ must: [{ key: "x", test: { case: "match", value: value(2.5) } }] })).toEqual({
      must: [{ key: "payload.x", range: { gte: 2.5, lte: 2.5 } }],
    });
    expect(translate({ must: [{ key: "ok", test: { case: "match", value: value(true) } }] })).toEqual({
      must: [{ key: "payload.ok", match: { value: true } }],
    });
  });

  it("any and none of several values, mixed kinds split by what Qdrant matches", () => {
    expect(
      translate({
        must: [{ key: "city", test: { case: "any", value: { values: [value("Rome"), value("Berlin")] } } }],
      }),
    ).toEqual({ must: [{ key: "payload.city", match: { any: ["Rome", "Berlin"] } }] });
    expect(
      translate({ should: [{ key: "v", test: { case: "any", value: { values: [value("a"), value(1), value(2)] } } }] }),
    ).toEqual({
      should: [
        {
          should: [
            { key: "payload.v", match: { value: "a" } },
            { key: "payload.v", match: { any: [1, 2] } },
          ],
        },
      ],
    });
    // None of the values: a point without the key passes, as with pgvector.
    expect(translate({ must: [{ key: "city", test: { case: "none", value: { values: [value("Paris")] } } }] })).toEqual(
      { must: [{ must_not: [{ key: "payload.city", match: { value: "Paris" } }] }] },
    );
  });

  it("numeric and date ranges, exists, is_null, must_not and nested filters", () => {
    expect(
      translate({
        must: [
          { key: "price", test: { case: "range", value: { gte: 10, lt: 40 } } },
          { key: "at", test: { case: "dateRange", value: { gt: "2026-01-01" } } },
          { key: "tags", test: { case: "exists", value: true } },
          { key: "note", test: { case: "isNull", value: true } },
        ],
        mustNot: [{ key: "gone", test: { case: "exists", value: false } }],
        should: [
          {
            test: {
              case: "filter",
              value: { must: [{ key: "note", test: { case: "isNull", value: false } }] },
            },
          },
        ],
      }),
    ).toEqual({
      must: [
        { key: "payload.price", range: { gte: 10, lt: 40 } },
        { key: "payload.at", range: { gt: "2026-01-01T00:00:00.000Z" } },
        { must_not: [{ is_empty: { key: "payload.tags" } }] },
        { is_null: { key: "payload.note" } },
      ],
      should: [{ must: [{ must_not: [{ is_null: { key: "payload.note" } }] }] }],
      must_not: [{ is_empty: { key: "payload.gone" } }],
    });
  });
});
