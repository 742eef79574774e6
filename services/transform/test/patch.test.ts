/**
 * Patch and Diff against the published JSON Patch test suite (npm json-patch-test-suite: the
 * RFC 6902 examples and the extended cases) and the RFC 7386 examples.
 */
import { describe, expect, it } from "vitest";
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import specTests from "json-patch-test-suite/spec_tests.json" with { type: "json" };
import tests from "json-patch-test-suite/tests.json" with { type: "json" };
import { PatchKind, TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { failure } from "#test/support/in-process.js";
import { createTransformService } from "../service.js";

const { impl } = createTransformService({ query: { threads: 1 } });
const client = createClient(
  TransformService,
  createRouterTransport(({ service }) => service(TransformService, impl)),
);
const value = (v: unknown) => fromJson(ValueSchema, v as JsonValue);

interface Case {
  comment?: string;
  doc: unknown;
  patch: unknown;
  expected?: unknown;
  error?: string;
  disabled?: boolean;
}

const cases = ([...specTests, ...tests] as Case[]).filter((c) => !c.disabled);

describe("JSON Patch test suite", () => {
  it.each(cases.map((c, i) => [i, c.comment ?? JSON.stringify(c.patch).slice(0, 60), c] as const))(
    "case %i: %s",
    async (_i, _name, c) => {
      const call = client.patch({ document: value(c.doc), patch: value(c.patch), kind: PatchKind.JSON_PATCH });
      if (c.error !== undefined) {
        const f = await failure(call);
        expect(f.code).toBe(Code.InvalidArgument);
        expect(f.fields[0]).toMatch(/^patch(\[\d+\])?$/);
      } else if ("expected" in c) {
        expect(toJson(ValueSchema, (await call).document!)).toEqual(c.expected);
      }
    },
  );
});

describe("merge patch and diff", () => {
  it("RFC 7386 appendix A examples", async () => {
    const examples: [unknown, unknown, unknown][] = [
      [{ a: "b" }, { a: "c" }, { a: "c" }],
      [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
      [{ a: "b" }, { a: null }, {}],
      [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
      [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
      [
        ["a", "b"],
        ["c", "d"],
        ["c", "d"],
      ],
      [{ a: "foo" }, null, null],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    ];
    for (const [doc, p, expected] of examples) {
      const res = await client.patch({ document: value(doc), patch: value(p), kind: PatchKind.MERGE_PATCH });
      expect(toJson(ValueSchema, res.document!)).toEqual(expected);
    }
  });

  it("a diff applied to the first document gives the second", async () => {
    const before = { a: 1, b: [1, 2, 3], c: { d: "x" } };
    const after = { a: 2, b: [1, 3], e: true };
    const { patch } = await client.diff({ before: value(before), after: value(after) });
    const applied = await client.patch({ document: value(before), patch });
    expect(toJson(ValueSchema, applied.document!)).toEqual(after);
  });
});
