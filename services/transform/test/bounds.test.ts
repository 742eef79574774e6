/**
 * Hostile shapes each converter refuses precisely (invalid_argument naming the field), never as an
 * internal error: external entities, nesting past the depth bound on read and on write, JSON Patch
 * into prototypes, and CSV tables too wide, too long a line or too many cells, all before parsing.
 */
import { afterAll, describe, expect, it } from "vitest";
import ExcelJS from "exceljs";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { DataFormat, JsonForm, PatchKind, QueryLanguage } from "#gen/flowforge/transform/v1/transform_pb.js";
import { failure } from "#test/support/in-process.js";
import { maxCells, maxColumns, maxDepth, maxLineChars, maxValueDepth } from "../formats.js";
import { transformClient } from "./helpers.js";

const { client, close } = transformClient({ query: { timeMs: 2000, heapMib: 64, threads: 2 } });
afterAll(() => close());

const refused = async (call: Promise<unknown>, field: string, message: RegExp) => {
  const f = await failure(call);
  expect(f).toMatchObject({ code: Code.InvalidArgument, fields: [field] });
  expect(f.message).toMatch(message);
};
const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
const deeply = /nests more than \d+ levels/;

describe("bounds on what converters read and write", () => {
  it("an XML external entity is refused naming input, and nothing is read", async () => {
    const input = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>';
    await refused(
      client.convert({ input, from: DataFormat.XML, to: DataFormat.JSON }),
      "input",
      /external entities are not supported/i,
    );
  });

  it("JSON nested 100,000 levels is refused naming input for every target; the bound itself converts", async () => {
    for (const to of [DataFormat.YAML, DataFormat.JSON, DataFormat.XML, DataFormat.NDJSON, DataFormat.CSV]) {
      await refused(
        client.convert({ input: nested(100_000), from: DataFormat.JSON, to, jsonForm: JsonForm.UNSPECIFIED }),
        "input",
        deeply,
      );
    }
    await refused(
      client.convert({ input: `${nested(100_000)}\n`, from: DataFormat.NDJSON, to: DataFormat.YAML }),
      "input",
      deeply,
    );
    const yaml = (await client.convert({ input: nested(maxDepth), from: DataFormat.JSON, to: DataFormat.YAML })).output;
    const back = await client.convert({
      input: yaml,
      from: DataFormat.YAML,
      to: DataFormat.JSON,
      jsonForm: JsonForm.TEXT,
    });
    expect(back.output).toBe(nested(maxDepth));
  });

  it("YAML and XML nested thousands of levels are refused before they are parsed", async () => {
    for (const input of [nested(20_000), `${"- ".repeat(20_000)}1`, `${"{a: ".repeat(5_000)}1${"}".repeat(5_000)}`]) {
      await refused(client.convert({ input, from: DataFormat.YAML, to: DataFormat.JSON }), "input", deeply);
    }
    const lines = Array.from({ length: 300 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n");
    await refused(client.convert({ input: `${lines} 1`, from: DataFormat.YAML, to: DataFormat.JSON }), "input", deeply);
    // An apostrophe inside a plain scalar opens no quote: what follows is still counted.
    await refused(
      client.convert({ input: `a: don't\nb: ${nested(20_000)}`, from: DataFormat.YAML, to: DataFormat.JSON }),
      "input",
      deeply,
    );
    // Brackets inside quotes (escaped quotes too) and comments are not nesting.
    const yaml = `a: '${"[".repeat(500)}' # ${"{".repeat(500)}\nb: "\\"${"]".repeat(10)}"\nc: it's [1, 2]\n`;
    expect(
      JSON.parse((await client.convert({ input: yaml, from: DataFormat.YAML, to: DataFormat.JSON })).output),
    ).toEqual({
      a: "[".repeat(500),
      b: `"${"]".repeat(10)}`,
      c: "it's [1, 2]",
    });
    const xml = `${"<a>".repeat(20_000)}x${"</a>".repeat(20_000)}`;
    await refused(client.convert({ input: xml, from: DataFormat.XML, to: DataFormat.JSON }), "input", /nested tags/i);
  });

  it("data answered as a google.protobuf.Value is bounded to what protobuf readers accept; the text form is not", async () => {
    const input = nested(maxValueDepth + 1);
    await refused(client.convert({ input, from: DataFormat.JSON, to: DataFormat.JSON }), "input", /JSON_FORM_TEXT/);
    const text = await client.convert({ input, from: DataFormat.JSON, to: DataFormat.JSON, jsonForm: JsonForm.TEXT });
    expect(text.output).toBe(input);
    const deepResult = `$reduce([1..${maxValueDepth + 5}], function($acc, $v) { {'a': $acc} }, {})`;
    await refused(
      client.query({ language: QueryLanguage.JSONATA, expression: deepResult, data: fromJson(ValueSchema, {}) }),
      "expression",
      deeply,
    );
  });

  it("a JSON Patch reaching __proto__ or constructor/prototype is refused naming the operation; nothing is polluted", async () => {
    const document = fromJson(ValueSchema, { a: 1 });
    for (const [patch, field] of [
      [[{ op: "add", path: "/__proto__/polluted", value: 1 }], "patch[0].path"],
      [
        [
          { op: "test", path: "/a", value: 1 },
          { op: "add", path: "/constructor/prototype/polluted", value: 1 },
        ],
        "patch[1].path",
      ],
      [[{ op: "copy", from: "/__proto__", path: "/b" }], "patch[0].from"],
    ] as const) {
      await refused(
        client.patch({ document, patch: fromJson(ValueSchema, patch as never), kind: PatchKind.JSON_PATCH }),
        field,
        /__proto__ or constructor\/prototype/,
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("bounds on tables, before they are parsed", () => {
  it("a CSV of 1,000,000 columns is refused naming input", async () => {
    const header = Array.from({ length: 1_000_000 }, (_, i) => `c${i}`).join(",");
    await refused(
      client.convert({ input: `${header}\n${"1,".repeat(999_999)}1\n`, from: DataFormat.CSV, to: DataFormat.JSON }),
      "input",
      new RegExp(`more than ${maxColumns} columns`),
    );
    // Delimiters inside a quoted header field are not columns.
    const quoted = `"${",".repeat(maxColumns + 5)}",b\n1,2\n`;
    expect(
      JSON.parse((await client.convert({ input: quoted, from: DataFormat.CSV, to: DataFormat.JSON })).output),
    ).toEqual([{ [",".repeat(maxColumns + 5)]: 1, b: 2 }]);
  });

  it("too many cells, and a line past the bound, are refused naming input (CSV, TSV and NDJSON)", async () => {
    const columns = 1000;
    const rows = Math.ceil(maxCells / columns) + 1;
    const line = `${"1,".repeat(columns - 1)}1\n`;
    await refused(
      client.convert({ input: line.repeat(rows), from: DataFormat.CSV, to: DataFormat.JSON }),
      "input",
      new RegExp(`at most ${maxCells} cells`),
    );
    const long = `a\n"${"x".repeat(maxLineChars + 1)}"\n`;
    await refused(client.convert({ input: long, from: DataFormat.CSV, to: DataFormat.JSON }), "input", /has a line of/);
    await refused(
      client.convert({ input: long.replaceAll(",", "\t"), from: DataFormat.TSV, to: DataFormat.JSON }),
      "input",
      /has a line of/,
    );
    await refused(
      client.convert({ input: `{"a":"${"x".repeat(maxLineChars)}"}\n`, from: DataFormat.NDJSON, to: DataFormat.JSON }),
      "input",
      /has a line of/,
    );
  });

  it("tables written (CSV, TSV, XLSX) and workbooks read are bounded by columns too", async () => {
    const wide = JSON.stringify([Object.fromEntries(Array.from({ length: maxColumns + 1 }, (_, i) => [`k${i}`, i]))]);
    for (const to of [DataFormat.CSV, DataFormat.TSV, DataFormat.XLSX]) {
      await refused(
        client.convert({ input: wide, from: DataFormat.JSON, to }),
        "input",
        new RegExp(`at most ${maxColumns} columns`),
      );
    }
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet("wide");
    sheet.getCell(1, 1).value = "a";
    sheet.getCell(2, maxColumns + 1).value = 1;
    const inputData = new Uint8Array(await workbook.xlsx.writeBuffer());
    await refused(
      client.convert({ inputData, from: DataFormat.XLSX, to: DataFormat.JSON }),
      "input_data",
      new RegExp(`at most ${maxColumns} are read`),
    );
  });
});
