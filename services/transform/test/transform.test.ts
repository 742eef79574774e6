/** Convert and Query with real-world inputs the tests make, and the bounds on hostile ones. */
import { afterAll, describe, expect, it } from "vitest";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { DataFormat, JsonForm, QueryLanguage } from "#gen/flowforge/transform/v1/transform_pb.js";
import { failure } from "#test/support/in-process.js";
import { transformClient } from "./helpers.js";

const { client, close } = transformClient({ query: { timeMs: 1000, heapMib: 64, threads: 3 } });
afterAll(() => close());

const data = async (req: Parameters<typeof client.convert>[0]) =>
  toJson(ValueSchema, (await client.convert({ ...req, to: DataFormat.JSON })).data!);

describe("Convert", () => {
  it("the acceptance example: CSV to JSON with numbers read", async () => {
    const res = await client.convert({ input: "a,b\n1,x\n", from: DataFormat.CSV, to: DataFormat.JSON });
    expect(JSON.parse(res.output)).toEqual([{ a: 1, b: "x" }]);
    expect(toJson(ValueSchema, res.data!)).toEqual([{ a: 1, b: "x" }]);
  });

  it("answers only the text or only the data of a JSON target on request; the choice is refused for other targets", async () => {
    const req = { input: "a,b\n1,x\n2,y\n", from: DataFormat.CSV, to: DataFormat.JSON };
    const text = await client.convert({ ...req, jsonForm: JsonForm.TEXT });
    expect(JSON.parse(text.output)).toEqual([
      { a: 1, b: "x" },
      { a: 2, b: "y" },
    ]);
    expect(text.data).toBeUndefined();
    const value = await client.convert({ ...req, jsonForm: JsonForm.DATA });
    expect(value.output).toBe("");
    expect(toJson(ValueSchema, value.data!)).toEqual([
      { a: 1, b: "x" },
      { a: 2, b: "y" },
    ]);
    const both = await client.convert({ ...req, jsonForm: JsonForm.BOTH });
    expect(JSON.parse(both.output)).toEqual(toJson(ValueSchema, both.data!));
    expect(await failure(client.convert({ ...req, to: DataFormat.YAML, jsonForm: JsonForm.TEXT }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["json_form"],
    });
  });

  it("a CSV with a BOM, ; delimiters, quoted newlines and quotes; kept as text on request", async () => {
    const input = '\uFEFFname;note;n\n"Smith, J";"line one\nline two";3\n"O""Brien";plain;4\n\n';
    expect(await data({ input, from: DataFormat.CSV, csv: { delimiter: ";" } })).toEqual([
      { name: "Smith, J", note: "line one\nline two", n: 3 },
      { name: 'O"Brien', note: "plain", n: 4 },
    ]);
    expect(await data({ input, from: DataFormat.CSV, csv: { delimiter: ";", valuesAsText: true } })).toEqual([
      { name: "Smith, J", note: "line one\nline two", n: "3" },
      { name: 'O"Brien', note: "plain", n: "4" },
    ]);
    // And back: quoting where it is needed.
    const csv = (
      await client.convert({
        input: JSON.stringify([{ a: "x,y", b: 'say "hi"' }]),
        from: DataFormat.JSON,
        to: DataFormat.CSV,
      })
    ).output;
    expect(csv).toBe('a,b\n"x,y","say ""hi"""\n');
  });

  it("XML with namespaces and attributes; YAML with anchors; NDJSON and TSV", async () => {
    const xml =
      '<?xml version="1.0"?><f:feed xmlns:f="urn:feed"><f:item id="1">one</f:item><f:item id="2">two</f:item></f:feed>';
    expect(await data({ input: xml, from: DataFormat.XML })).toEqual({
      "f:feed": {
        "@xmlns:f": "urn:feed",
        "f:item": [
          { "#text": "one", "@id": 1 },
          { "#text": "two", "@id": 2 },
        ],
      },
    });
    const yaml = "base: &b\n  retries: 3\nprod:\n  <<: *b\n  host: p\n";
    expect(await data({ input: yaml, from: DataFormat.YAML })).toEqual({
      base: { retries: 3 },
      prod: { retries: 3, host: "p" },
    });
    expect(await data({ input: '{"a":1}\n\n{"a":2}\n', from: DataFormat.NDJSON })).toEqual([{ a: 1 }, { a: 2 }]);
    expect(await data({ input: "a\tb\n1\t2\n", from: DataFormat.TSV })).toEqual([{ a: 1, b: 2 }]);
    expect((await client.convert({ input: '[{"a":1}]', from: DataFormat.JSON, to: DataFormat.YAML })).output).toBe(
      "- a: 1\n",
    );
  });

  it("malformed input names the line and column", async () => {
    const json = await failure(
      client.convert({ input: '{\n  "a": 1,\n  "b": }', from: DataFormat.JSON, to: DataFormat.YAML }),
    );
    expect(json).toMatchObject({ code: Code.InvalidArgument, fields: ["input"] });
    expect(json.message).toMatch(/line 3, column/);
    expect(
      (await failure(client.convert({ input: "a,b\n1,2,3\n", from: DataFormat.CSV, to: DataFormat.JSON }))).message,
    ).toMatch(/line 2/);
    // A fault inside a field names the CSV column too.
    expect(
      (await failure(client.convert({ input: 'a,b\n1,x"y"z\n', from: DataFormat.CSV, to: DataFormat.JSON }))).message,
    ).toMatch(/at line 2, column 2 \(b\)/);
    expect(
      (await failure(client.convert({ input: "<a><b></a>", from: DataFormat.XML, to: DataFormat.JSON }))).message,
    ).toMatch(/line 1, column \d+/);
    expect(
      (await failure(client.convert({ input: "a: [1, 2\n", from: DataFormat.YAML, to: DataFormat.JSON }))).message,
    ).toMatch(/line \d+, column \d+/);
    expect((await failure(client.convert({ input: "x", from: DataFormat.JSON }))).fields).toEqual(["to"]);
  });

  it("a billion-laughs XML document is not expanded", async () => {
    const entities = ['<!ENTITY lol "lol">'];
    for (let i = 1; i < 10; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? "" : i - 1};`.repeat(10)}">`);
    const input = `<?xml version="1.0"?><!DOCTYPE lolz [${entities.join("")}]><lolz>&lol9;</lolz>`;
    const res = await client.convert({ input, from: DataFormat.XML, to: DataFormat.JSON });
    // Ten to the ninth "lol"s would be 3 GB; nested entities are left unexpanded.
    expect(res.output.length).toBeLessThan(1000);
  });

  it("a billion-laughs YAML document is refused, not expanded", async () => {
    const lol = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++)
      lol.push(
        `${"abcdefghij"[i]}: &${"abcdefghij"[i]} [${Array(10)
          .fill(`*${"abcdefghij"[i - 1]}`)
          .join(", ")}]`,
      );
    const f = await failure(client.convert({ input: lol.join("\n"), from: DataFormat.YAML, to: DataFormat.JSON }));
    expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["input"] });
    expect(f.message).toMatch(/alias/i);
  });
});

describe("Query", () => {
  const items = { items: [{ price: 2 }, { price: 3 }] };
  const query = async (language: QueryLanguage, expression: string, value: unknown = items) =>
    toJson(ValueSchema, (await client.query({ language, expression, data: toJsonValue(value) })).result!);

  it("the acceptance examples: JSONata and JMESPath sums", async () => {
    expect(await query(QueryLanguage.JSONATA, "$sum(items.price)")).toBe(5);
    expect(await query(QueryLanguage.JMESPATH, "sum(items[].price)")).toBe(5);
    expect(await query(QueryLanguage.JSONATA, "items[price > 2]")).toEqual({ price: 3 });
    expect(await query(QueryLanguage.JMESPATH, "items[?price > `2`].price")).toEqual([3]);
    expect(await query(QueryLanguage.JSONATA, "nothing")).toBe(null);
  });

  it("bad expressions name the field; a runaway JSONata expression is stopped at its limit while others are answered", async () => {
    expect(
      await failure(client.query({ language: QueryLanguage.JMESPATH, expression: "items[", data: toJsonValue(items) })),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["expression"] });
    expect(
      await failure(client.query({ language: QueryLanguage.JSONATA, expression: "$sum(", data: toJsonValue(items) })),
    ).toMatchObject({ fields: ["expression"] });
    expect(await failure(client.query({ expression: "a" }))).toMatchObject({ fields: ["language"] });
    const loop = failure(
      client.query({
        language: QueryLanguage.JSONATA,
        expression: "($f := function($n) { $n = 0 ? 0 : $f($n - 1) + $f($n - 1) }; $f(40))",
      }),
    );
    expect(await query(QueryLanguage.JSONATA, "1 + 1")).toBe(2);
    const f = await loop;
    expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["expression"] });
    expect(f.message).toMatch(/1000 ms limit|stack/i);
  }, 30_000);
});

/** A plain JS value as google.protobuf.Value. */
function toJsonValue(v: unknown) {
  return fromJson(ValueSchema, v as never);
}

describe("Validate", () => {
  const schema = {
    type: "object",
    required: ["id", "email"],
    properties: {
      id: { type: "integer", minimum: 1 },
      email: { type: "string", format: "email" },
      tags: { type: "array", items: { type: "string" } },
    },
    additionalProperties: false,
  };

  it("reports every violation with its instance path and keyword (2020-12 and draft-07)", async () => {
    const ok = await client.validate({ schema, data: toJsonValue({ id: 1, email: "a@b.example" }) });
    expect(ok).toMatchObject({ valid: true, violations: [] });
    for (const s of [schema, { $schema: "http://json-schema.org/draft-07/schema#", ...schema }]) {
      const bad = await client.validate({
        schema: s,
        data: toJsonValue({ id: 0, email: "nope", tags: ["x", 2], extra: true }),
      });
      expect(bad.valid).toBe(false);
      const found = bad.violations.map((v) => [v.instancePath, v.keyword]);
      expect(found).toEqual(
        expect.arrayContaining([
          ["", "additionalProperties"],
          ["/id", "minimum"],
          ["/email", "format"],
          ["/tags/1", "type"],
        ]),
      );
      expect(found).toHaveLength(4);
    }
    // The same $id twice, differently: each call is judged by its own schema (none is kept between calls).
    for (const max of [1, 5, 1]) {
      const withId = { $id: "https://example.test/limit", type: "integer", maximum: max };
      expect((await client.validate({ schema: withId, data: toJsonValue(3) })).valid).toBe(max === 5);
    }
    // prefixItems exists in 2020-12 only.
    const tuple = { type: "array", prefixItems: [{ type: "number" }], items: false };
    expect((await client.validate({ schema: tuple, data: toJsonValue([1, 2]) })).valid).toBe(false);
  });

  it("a schema that is not a schema names the field; a regex-heavy (ReDoS) schema is stopped at its limit", async () => {
    expect(await failure(client.validate({ schema: { type: "no-such-type" }, data: toJsonValue(1) }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["schema"],
    });
    const redos = await failure(
      client.validate({ schema: { type: "string", pattern: "^(a+)+$" }, data: toJsonValue(`${"a".repeat(40)}!`) }),
    );
    expect(redos).toMatchObject({ code: Code.InvalidArgument, fields: ["schema"] });
    expect(redos.message).toMatch(/1000 ms limit/);
  }, 30_000);
});
