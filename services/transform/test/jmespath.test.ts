/**
 * JMESPath through Query, on the examples of jmespath.org's tutorial and specification (the
 * compliance suite runs in suites.test.ts). Expected values follow from the
 * specification's rules: projections skip nulls, `[]` flattens one level, pipes stop projections.
 */
import { afterAll, describe, expect, it } from "vitest";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { QueryLanguage } from "#gen/flowforge/transform/v1/transform_pb.js";
import { failure } from "#test/support/in-process.js";
import { plain, transformClient } from "./helpers.js";

const { client, close } = transformClient({ query: { threads: 1 } });
afterAll(() => close());

const people = {
  people: [
    { first: "James", last: "d", age: 30 },
    { first: "Jacob", last: "e", age: 50 },
    { first: "Jayden", last: "f", age: 20 },
    { missing: "different" },
  ],
  foo: { bar: "baz" },
};
const reservations = {
  reservations: [
    { instances: [{ state: "running" }, { state: "stopped" }] },
    { instances: [{ state: "terminated" }, { state: "running" }] },
  ],
};
const machines = {
  machines: [
    { name: "a", state: "running" },
    { name: "b", state: "stopped" },
    { name: "c", state: "running" },
  ],
};
const numbers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

const cases: [string, unknown, string, unknown][] = [
  ["identifier", { a: "foo", b: "bar" }, "a", "foo"],
  ["missing identifier is null", { a: "foo" }, "b", null],
  ["subexpression", { a: { b: { c: { d: "value" } } } }, "a.b.c.d", "value"],
  ["index", ["a", "b", "c", "d", "e", "f"], "[1]", "b"],
  ["negative index", ["a", "b", "c"], "[-1]", "c"],
  ["nested indexes", { a: { b: { c: [{ d: [0, [1, 2]] }, { d: [3, 4] }] } } }, "a.b.c[0].d[1][0]", 1],
  ["slice", numbers, "[0:5]", [0, 1, 2, 3, 4]],
  ["slice with step", numbers, "[::2]", [0, 2, 4, 6, 8]],
  ["reversed slice", numbers, "[::-1]", [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
  ["list projection skips nulls", people, "people[*].first", ["James", "Jacob", "Jayden"]],
  ["slice projection", people, "people[:2].first", ["James", "Jacob"]],
  [
    "object projection",
    { ops: { functionA: { numArgs: 2 }, functionB: { numArgs: 3 }, functionC: { variadic: true } } },
    "ops.*.numArgs",
    [2, 3],
  ],
  [
    "nested projections",
    reservations,
    "reservations[*].instances[*].state",
    [
      ["running", "stopped"],
      ["terminated", "running"],
    ],
  ],
  ["flatten", reservations, "reservations[].instances[].state", ["running", "stopped", "terminated", "running"]],
  ["filter", machines, "machines[?state=='running'].name", ["a", "c"]],
  ["pipe stops a projection", people, "people[*].first | [0]", "James"],
  [
    "multiselect list",
    machines,
    "machines[].[name, state]",
    [
      ["a", "running"],
      ["b", "stopped"],
      ["c", "running"],
    ],
  ],
  [
    "multiselect hash",
    machines,
    "machines[?state=='stopped'].{Name: name, State: state}",
    [{ Name: "b", State: "stopped" }],
  ],
  ["length", people, "length(people)", 4],
  ["max_by with an expression reference", people, "max_by(people[:3], &age).first", "Jacob"],
  ["sort_by", people, "sort_by(people[:3], &age)[*].first", ["Jayden", "James", "Jacob"]],
  ["join", people, "join(', ', people[*].first)", "James, Jacob, Jayden"],
  [
    "contains in a filter",
    { myarray: ["foo", "foobar", "barfoo", "bar", "baz", "barbaz", "barfoobaz"] },
    "myarray[?contains(@, 'foo') == `true`]",
    ["foo", "foobar", "barfoo", "barfoobaz"],
  ],
  ["literal and comparison", { a: 1 }, "a == `1`", true],
  ["or falls back", { a: null, b: "x" }, "a || b", "x"],
];

describe("JMESPath", () => {
  it.each(cases)("%s", async (_, data, expression, expected) => {
    const res = await client.query({
      language: QueryLanguage.JMESPATH,
      expression,
      data: fromJson(ValueSchema, data as JsonValue),
    });
    expect(plain(res.result)).toEqual(expected);
  });

  it("a syntax error or an unknown function names the expression", async () => {
    for (const expression of ["people[?", "nope(people)", "foo.`bar"]) {
      const err = await failure(
        client.query({
          language: QueryLanguage.JMESPATH,
          expression,
          data: fromJson(ValueSchema, people as unknown as JsonValue),
        }),
      );
      expect(err.fields).toEqual(["expression"]);
    }
  });
});
