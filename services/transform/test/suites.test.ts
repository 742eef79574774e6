/**
 * Published test suites, run through the service: the JSONPath Compliance Test Suite (as the
 * jsonpath-rfc9535 package ships it), the JMESPath compliance suite (as jmespath 0.15.0 shipped it,
 * installed as `jmespath-compliance`) and the JSON Schema Test Suite's draft-07 core keywords
 * (suites/json-schema-draft7), the latter also under 2020-12 for every case whose schema uses only
 * keywords whose meaning did not change between the drafts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { QueryLanguage } from "#gen/flowforge/transform/v1/transform_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { plain, transformClient } from "./helpers.js";

const { client, close } = transformClient({ query: { timeMs: 2000, threads: 2 } });
afterAll(() => close());

interface CtsCase {
  name: string;
  selector: string;
  document?: JsonValue;
  result?: JsonValue[];
  results?: JsonValue[][];
  result_paths?: string[];
  results_paths?: string[][];
  invalid_selector?: boolean;
}
const ctsFile = join(
  dirname(createRequire(import.meta.url).resolve("jsonpath-rfc9535/package.json")),
  "src/__tests__/jsonpath-compliance-test-suite/cts.json",
);
const cts = (JSON.parse(readFileSync(ctsFile, "utf8")) as { tests: CtsCase[] }).tests;

/** Invalid selectors the service refused; the rest selected nothing (see below). */
let refused = 0;
const invalid = cts.filter((c) => c.invalid_selector).length;

describe("JSONPath Compliance Test Suite", () => {
  it(`holds the suite (${cts.length} cases)`, () => expect(cts.length).toBeGreaterThan(600));

  it.each(cts.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const call = client.query({
      language: QueryLanguage.JSONPATH,
      expression: c.selector,
      data: fromJson(ValueSchema, c.document ?? null),
    });
    if (c.invalid_selector) {
      // jsonpath-rfc9535 checks some rules (function arity, integer ranges) only when it evaluates
      // them, so with no document to evaluate over those selectors select nothing instead of being
      // refused; its own compliance run accepts the same two outcomes.
      const outcome = await call.then(
        (res) => plain(res.result),
        (e) => ConnectError.from(e),
      );
      if (outcome instanceof ConnectError) {
        expect(outcome.code).toBe(Code.InvalidArgument);
        expect(outcome.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("expression");
        refused++;
      } else expect(outcome).toEqual([]);
      return;
    }
    const res = await call;
    const got = { values: plain(res.result), paths: res.paths };
    const expected = c.result
      ? [{ values: c.result, paths: c.result_paths }]
      : (c.results ?? []).map((values, i) => ({ values, paths: c.results_paths?.[i] }));
    expect(expected).toContainEqual(got);
  });
});

describe("JSONPath Compliance Test Suite, invalid selectors", () => {
  it("most are refused outright", () => {
    expect(invalid).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(invalid * 0.8);
  });
});

interface SchemaGroup {
  description: string;
  schema: JsonValue;
  tests: { description: string; data: JsonValue; valid: boolean }[];
}
const suiteDir = join(import.meta.dirname, "suites/json-schema-draft7");
const groups = readdirSync(suiteDir)
  .filter((f) => f.endsWith(".json"))
  .flatMap((f) =>
    (JSON.parse(readFileSync(join(suiteDir, f), "utf8")) as SchemaGroup[]).map((g) => ({ file: f, ...g })),
  );
/** ValidateRequest.schema is an object: boolean schemas at the top cannot be sent. */
const objectSchemas = groups.filter(
  (g) => typeof g.schema === "object" && g.schema !== null && !Array.isArray(g.schema),
);
/**
 * ajv's documented deviation: it applies keywords beside `$ref` in every draft (draft-07 says to
 * ignore them).
 */
const ajvDeviations = new Set(["ref.json: ref overrides any sibling keywords"]);
/** Keywords whose meaning (or spelling) changed after draft-07: cases using them are not run as 2020-12. */
const changed = /"(items|additionalItems|dependencies|definitions|\$ref|\$id|id)"\s*:/;

async function runGroup(g: SchemaGroup, draft: string) {
  const schema = { ...(g.schema as JsonObject), $schema: draft };
  for (const t of g.tests) {
    const res = await client.validate({ schema, data: fromJson(ValueSchema, t.data) });
    expect.soft(res.valid, `${g.description}: ${t.description}`).toBe(t.valid);
    // Every invalid answer says why.
    if (!t.valid) expect.soft(res.violations.length, `${g.description}: ${t.description}`).toBeGreaterThan(0);
  }
}

describe("JSON Schema Test Suite (draft-07 core)", () => {
  const cases = objectSchemas.filter((g) => !ajvDeviations.has(`${g.file}: ${g.description}`));
  it(`holds the suite (${cases.length} schema groups)`, () => expect(cases.length).toBeGreaterThan(100));
  it.each(cases.map((g) => [`${g.file}: ${g.description}`, g] as const))("%s", (_, g) =>
    runGroup(g, "http://json-schema.org/draft-07/schema#"),
  );
});

describe("JSON Schema Test Suite cases as 2020-12 (unchanged keywords only)", () => {
  const unchanged = objectSchemas.filter((g) => !changed.test(JSON.stringify(g.schema)));
  it(`holds the cases (${unchanged.length} schema groups)`, () => expect(unchanged.length).toBeGreaterThan(80));
  it.each(unchanged.map((g) => [`${g.file}: ${g.description}`, g] as const))("%s", (_, g) =>
    runGroup(g, "https://json-schema.org/draft/2020-12/schema"),
  );
});

interface JmespathGroup {
  given: JsonValue;
  cases: { expression: string; result?: JsonValue; error?: string; comment?: string }[];
}
const jmespathDir = join(
  dirname(createRequire(import.meta.url).resolve("jmespath-compliance/package.json")),
  "test/compliance",
);
const jmespathCases = readdirSync(jmespathDir)
  .filter((f) => f.endsWith(".json"))
  .flatMap((f) =>
    (JSON.parse(readFileSync(join(jmespathDir, f), "utf8")) as JmespathGroup[]).flatMap((g, i) =>
      g.cases.map((c) => [`${f} #${i}: ${c.expression}`, g.given, c] as const),
    ),
  );

describe("JMESPath compliance suite", () => {
  it(`holds the suite (${jmespathCases.length} cases)`, () => expect(jmespathCases.length).toBeGreaterThan(800));

  it.each(jmespathCases)("%s", async (_, given, c) => {
    const call = client.query({
      language: QueryLanguage.JMESPATH,
      expression: c.expression,
      data: fromJson(ValueSchema, given),
    });
    if (c.error) {
      // Syntax, unknown functions, wrong arity and wrong argument types are all the expression's fault.
      const e = await call.then(
        () => undefined,
        (err) => ConnectError.from(err),
      );
      expect(e?.code, `expected a ${c.error} error`).toBe(Code.InvalidArgument);
      expect(e?.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("expression");
      return;
    }
    expect(plain((await call).result)).toEqual(c.result ?? null);
  });
});
