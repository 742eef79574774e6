/** Merge, Reshape, Render, JSONPath queries and XLSX, with expected values worked out by hand. */
import { afterAll, describe, expect, it } from "vitest";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import ExcelJS from "exceljs";
import { deflateRawSync } from "node:zlib";
import {
  AggregateFunction,
  ArrayMerge,
  DataFormat,
  QueryLanguage,
  TemplateEngine,
  type ReshapeStep,
} from "#gen/flowforge/transform/v1/transform_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ReshapeStepSchema } from "#gen/flowforge/transform/v1/transform_pb.js";
import { failure } from "#test/support/in-process.js";
import { plain, transformClient } from "./helpers.js";

const { client, close } = transformClient({ query: { timeMs: 1000, heapMib: 96, threads: 2 } });
afterAll(() => close());
const value = (v: unknown) => fromJson(ValueSchema, v as JsonValue);

describe("Merge", () => {
  const a = { name: "a", tags: ["x"], nested: { keep: 1, replace: 1, list: [{ id: 1, v: "old" }] } };
  const b = { tags: ["y"], nested: { replace: 2, added: true, list: [{ v: "new" }, { id: 2 }] } };

  it("deep-merges objects, later winning; arrays replaced, concatenated or merged by index", async () => {
    const merged = async (arrays?: ArrayMerge) =>
      plain((await client.merge({ documents: [a, b].map(value), arrays })).document);
    expect(await merged()).toEqual({
      name: "a",
      tags: ["y"],
      nested: { keep: 1, replace: 2, added: true, list: [{ v: "new" }, { id: 2 }] },
    });
    expect(await merged(ArrayMerge.CONCAT)).toMatchObject({ tags: ["x", "y"] });
    expect(await merged(ArrayMerge.BY_INDEX)).toMatchObject({
      nested: { list: [{ id: 1, v: "new" }, { id: 2 }] },
    });
    // Three documents, and a non-object replacing an object.
    const three = await client.merge({ documents: [{ a: 1 }, { b: 2 }, { a: 3 }].map(value) });
    expect(plain(three.document)).toEqual({ a: 3, b: 2 });
    expect(plain((await client.merge({ documents: [{ a: 1 }, 5].map(value) })).document)).toBe(5);
  });

  it("never writes an object's prototype", async () => {
    const hostile = value(
      JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
    );
    const res = await client.merge({ documents: [value({ a: 1 }), hostile] });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(plain(res.document))).toBe(Object.prototype);
    expect((await failure(client.merge({ documents: [] }))).fields).toEqual(["documents"]);
  });
});

type Step = MessageInitShape<typeof ReshapeStepSchema>;
const reshape = async (data: unknown, ...steps: Step[]) =>
  plain((await client.reshape({ data: value(data), steps })).data);

describe("Reshape", () => {
  const people = [
    { name: "Ann", address: { city: "Oslo", zip: "0150" }, age: 31, team: "red", score: 10 },
    { name: "Bob", address: { city: "Bergen" }, age: 25, team: "blue", score: 7 },
    { name: "Cid", address: { city: "Oslo" }, age: 40, team: "red", score: 4 },
    { name: "Dee", age: 25, team: "blue" },
  ];

  it("flattens and unflattens with a separator, arrays by index or kept", async () => {
    const nested = { a: { b: 1, c: [1, { d: 2 }] } };
    expect(await reshape(nested, { step: { case: "flatten", value: {} } })).toEqual({
      "a.b": 1,
      "a.c.0": 1,
      "a.c.1.d": 2,
    });
    expect(await reshape(nested, { step: { case: "flatten", value: { separator: "_", keepArrays: true } } })).toEqual({
      a_b: 1,
      a_c: [1, { d: 2 }],
    });
    expect(await reshape([{ "x/y": 1, "x/z": 2 }], { step: { case: "unflatten", value: { separator: "/" } } })).toEqual(
      [{ x: { y: 1, z: 2 } }],
    );
  });

  it("picks, omits and renames fields by dotted path; renames can swap", async () => {
    expect(
      await reshape(people.slice(0, 2), { step: { case: "pick", value: { fields: ["name", "address.city"] } } }),
    ).toEqual([
      { name: "Ann", address: { city: "Oslo" } },
      { name: "Bob", address: { city: "Bergen" } },
    ]);
    expect(
      await reshape(people[0], { step: { case: "omit", value: { fields: ["address", "score", "team"] } } }),
    ).toEqual({
      name: "Ann",
      age: 31,
    });
    const renamed = await reshape(
      { a: 1, b: 2, deep: { x: 3 } },
      {
        step: { case: "rename", value: { fields: { a: "b", b: "a", "deep.x": "y" } } },
      },
    );
    expect(renamed).toEqual({ a: 2, b: 1, deep: {}, y: 3 });
  });

  it("sorts by several keys (missing last either way), dedupes, groups and chunks", async () => {
    const sorted = await reshape(people, {
      step: { case: "sort", value: { keys: [{ field: "age" }, { field: "score", descending: true }] } },
    });
    expect((sorted as { name: string }[]).map((p) => p.name)).toEqual(["Bob", "Dee", "Ann", "Cid"]);
    const byCity = await reshape(people, {
      step: { case: "sort", value: { keys: [{ field: "address.city", descending: true }] } },
    });
    expect((byCity as { name: string }[]).map((p) => p.name)).toEqual(["Ann", "Cid", "Bob", "Dee"]);
    const deduped = await reshape(people, { step: { case: "dedupe", value: { fields: ["team"] } } });
    expect((deduped as { name: string }[]).map((p) => p.name)).toEqual(["Ann", "Bob"]);
    expect(
      await reshape(
        [1, 1].map(() => ({ a: 1 })),
        { step: { case: "dedupe", value: {} } },
      ),
    ).toEqual([{ a: 1 }]);
    const grouped = (await reshape(people, { step: { case: "group", value: { fields: ["team"] } } })) as {
      key: unknown;
      items: { name: string }[];
    }[];
    expect(grouped.map((g) => [g.key, g.items.map((i) => i.name)])).toEqual([
      [{ team: "red" }, ["Ann", "Cid"]],
      [{ team: "blue" }, ["Bob", "Dee"]],
    ]);
    const chunks = (await reshape(people, { step: { case: "chunk", value: { size: 3 } } })) as unknown[][];
    expect(chunks.map((c) => c.length)).toEqual([3, 1]);
  });

  it("aggregates per group: count, sum, min, max, mean (numbers only), then steps chain", async () => {
    const agg = (fn: AggregateFunction, field = "score", as = "") => ({ function: fn, field, as });
    const out = await reshape(
      people,
      {
        step: {
          case: "aggregate",
          value: {
            groupBy: ["team"],
            aggregations: [
              agg(AggregateFunction.COUNT, ""),
              agg(AggregateFunction.SUM),
              agg(AggregateFunction.MIN, "age", "youngest"),
              agg(AggregateFunction.MAX, "age"),
              agg(AggregateFunction.MEAN),
            ],
          },
        },
      },
      { step: { case: "sort", value: { keys: [{ field: "team" }] } } },
    );
    expect(out).toEqual([
      { team: "blue", count: 2, sum_score: 7, youngest: 25, max_age: 25, mean_score: 7 },
      { team: "red", count: 2, sum_score: 14, youngest: 31, max_age: 40, mean_score: 7 },
    ]);
    const total = await reshape(people, {
      step: { case: "aggregate", value: { aggregations: [agg(AggregateFunction.MEAN, "age")] } },
    });
    expect(total).toEqual([{ mean_age: (31 + 25 + 40 + 25) / 4 }]);
  });

  it("bad steps name the step and field", async () => {
    const bad = async (data: unknown, ...steps: Step[]) =>
      (await failure(client.reshape({ data: value(data), steps }))).fields;
    expect(await bad(people, { step: { case: "chunk", value: { size: 0 } } })).toEqual(["steps[0].chunk.size"]);
    expect(
      await bad(
        { a: 1 },
        { step: { case: "flatten", value: {} } },
        { step: { case: "sort", value: { keys: [{ field: "a" }] } } },
      ),
    ).toEqual(["steps[1].sort"]);
    expect(await bad([1, 2], { step: { case: "group", value: { fields: ["a"] } } })).toEqual(["steps[0].group"]);
    expect(await bad(people, {} as ReshapeStep)).toEqual(["steps[0]"]);
    expect(await bad(people)).toEqual(["steps"]);
    const noFn = { step: { case: "aggregate" as const, value: { aggregations: [{ field: "age" }] } } };
    expect(await bad(people, noFn)).toEqual(["steps[0].aggregate.aggregations[0].function"]);
    // Nesting is bounded: a key of 200,000 separators, or a dotted path as deep, is refused up front.
    const deepKey = Array(200_000).fill("a").join(".");
    expect(await bad({ [deepKey]: 1 }, { step: { case: "unflatten", value: {} } })).toEqual(["steps[0].unflatten"]);
    expect(await bad({ a: 1 }, { step: { case: "rename", value: { fields: { a: deepKey } } } })).toEqual([
      "steps[0].rename.fields.a",
    ]);
    expect(await bad(people, { step: { case: "pick", value: { fields: [deepKey] } } })).toEqual([
      "steps[0].pick.fields[0]",
    ]);
  });
});

describe("Render", () => {
  const data = value({ name: "<Ann>", items: [{ n: 1 }, { n: 2 }], vip: true });

  it("Mustache: escaped by default, sections, partials; unescaped on request", async () => {
    const template = "Hi {{name}}! {{#items}}[{{n}}]{{/items}}{{#vip}} VIP{{/vip}} {{> footer}}";
    const res = await client.render({ template, data, partials: { footer: "-- {{name}}" } });
    expect(res.output).toBe("Hi &lt;Ann&gt;! [1][2] VIP -- &lt;Ann&gt;");
    expect((await client.render({ template: "{{name}}", data, noEscape: true })).output).toBe("<Ann>");
  });

  it("Handlebars: built-in helpers, no prototype access, no unknown helpers", async () => {
    const engine = TemplateEngine.HANDLEBARS;
    const template =
      "{{#each items}}{{@index}}:{{n}} {{/each}}{{#if vip}}VIP{{else}}no{{/if}} {{lookup (lookup items 1) 'n'}}";
    expect((await client.render({ engine, template, data })).output).toBe("0:1 1:2 VIP 2");
    // The constructor of a plain object is not reachable (Handlebars's prototype access control).
    const proto = await client.render({ engine, template: "[{{constructor.name}}][{{__proto__}}]", data });
    expect(proto.output).toBe("[][]");
    const unknown = await failure(client.render({ engine, template: "{{shout name}}", data }));
    expect(unknown.fields).toEqual(["template"]);
  });

  it("a malformed template names the field; a self-recursive partial is stopped", async () => {
    expect((await failure(client.render({ template: "{{#a}} never closed", data }))).fields).toEqual(["template"]);
    const loop = await failure(client.render({ template: "{{> again}}", data, partials: { again: "x{{> again}}" } }));
    expect(loop.fields).toEqual(["template"]);
  });
});

describe("Query with JSONPath (RFC 9535)", () => {
  it("answers the values and their normalized paths", async () => {
    const data = value({
      store: {
        book: [
          { price: 8.95, title: "A" },
          { price: 22.99, title: "B" },
        ],
      },
    });
    const res = await client.query({
      language: QueryLanguage.JSONPATH,
      expression: "$.store.book[?@.price < 10].title",
      data,
    });
    expect(plain(res.result)).toEqual(["A"]);
    expect(res.paths).toEqual(["$['store']['book'][0]['title']"]);
    const bad = await failure(client.query({ language: QueryLanguage.JSONPATH, expression: "$.[", data }));
    expect(bad.fields).toEqual(["expression"]);
  });
});

describe("Convert XLSX", () => {
  it("writes records to a workbook and reads them back; reads a named sheet, formulas by result", async () => {
    const rows = [
      { city: "Oslo", n: 3, ok: true, extra: null },
      { city: "Bergen", n: 4.5, ok: false, extra: { a: 1 } },
    ];
    const written = await client.convert({ input: JSON.stringify(rows), from: DataFormat.JSON, to: DataFormat.XLSX });
    expect(written.outputData.length).toBeGreaterThan(0);
    const back = await client.convert({ inputData: written.outputData, from: DataFormat.XLSX, to: DataFormat.JSON });
    expect(plain(back.data)).toEqual([
      { city: "Oslo", n: 3, ok: true, extra: null },
      { city: "Bergen", n: 4.5, ok: false, extra: '{"a":1}' },
    ]);
    // A workbook made by exceljs directly: two sheets, a formula, a date, no header row.
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet("First").addRow(["ignored"]);
    const s = wb.addWorksheet("Data");
    s.addRow([2, 3, { formula: "A1*B1", result: 6 }, new Date(Date.UTC(2026, 0, 2))]);
    const bytes = new Uint8Array(await wb.xlsx.writeBuffer());
    const read = await client.convert({
      inputData: bytes,
      from: DataFormat.XLSX,
      to: DataFormat.CSV,
      xlsx: { sheet: "Data", noHeader: true },
    });
    expect(read.output.trim()).toBe("A,B,C,D\n2,3,6,2026-01-02T00:00:00.000Z");
    const missing = await failure(
      client.convert({ inputData: bytes, from: DataFormat.XLSX, to: DataFormat.JSON, xlsx: { sheet: "Nope" } }),
    );
    expect(missing.fields).toEqual(["input_data"]);
    expect(missing.message).toMatch(/First, Data/);
  });

  it("refuses what is not a workbook, and a zip that unpacks past the bound before inflating it", async () => {
    const notZip = await failure(
      client.convert({ inputData: new Uint8Array([1, 2, 3]), from: DataFormat.XLSX, to: DataFormat.JSON }),
    );
    expect(notZip.fields).toEqual(["input_data"]);
    const bomb = zipOfZeros("xl/worksheets/sheet1.xml", 300 * 1024 * 1024);
    const refused = await failure(client.convert({ inputData: bomb, from: DataFormat.XLSX, to: DataFormat.JSON }));
    expect(refused.fields).toEqual(["input_data"]);
    expect(refused.message).toMatch(/unpacks to \d+ bytes/);
    expect((await failure(client.convert({ from: DataFormat.XLSX, to: DataFormat.JSON }))).fields).toEqual([
      "input_data",
    ]); // Writing one needs records, as CSV does.
    const notRecords = await failure(client.convert({ input: "[1, 2]", from: DataFormat.JSON, to: DataFormat.XLSX }));
    expect(notRecords.fields).toEqual(["input"]);
    expect(notRecords.message).toMatch(/row 0 is not an object; XLSX needs records/);
  });
});

/** A one-file zip of `size` zeros (deflated to about size / 1000 bytes): a zip bomb in miniature. */
function zipOfZeros(name: string, size: number): Uint8Array {
  const data = deflateRawSync(Buffer.alloc(size), { level: 1 });
  const file = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(size, 22);
  local.writeUInt16LE(file.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(size, 24);
  central.writeUInt16LE(file.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + file.length, 12);
  end.writeUInt32LE(local.length + file.length + data.length, 16);
  return new Uint8Array(Buffer.concat([local, file, data, central, file, end]));
}
