/** Evaluate: mathjs semantics, the functions made unreachable, and bounds a hostile expression cannot escape. */
import { afterAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { NumberMode } from "#gen/flowforge/math/v1/math_pb.js";
import { errorOf, failure } from "#test/support/in-process.js";
import { mathClient } from "./helpers.js";

const { client, close } = mathClient({ sandbox: { timeMs: 1000, heapMib: 64, threads: 4 } });
afterAll(() => close());

/** The result's value as JSON, as a Connect JSON caller sees it. */
async function value(req: Parameters<typeof client.evaluate>[0]) {
  return toJson(ValueSchema, (await client.evaluate(req)).value!);
}

describe("Evaluate", () => {
  it("computes with variables, units, matrices, big numbers and fractions", async () => {
    expect(await client.evaluate({ expression: "sqrt(16) + x", variables: { x: 1 } })).toMatchObject({
      text: "5",
      type: "number",
    });
    expect(await value({ expression: "sqrt(16) + x", variables: { x: 1 } })).toBe(5);
    expect((await client.evaluate({ expression: "5 cm to inch", precision: 5 })).text).toBe("1.9685 inch");
    expect(await value({ expression: "[1, 2; 3, 4] * [5; 6]" })).toEqual([[17], [39]]);
    expect(await client.evaluate({ expression: "0.1 + 0.2", numberMode: NumberMode.BIGNUMBER })).toMatchObject({
      text: "0.3",
      type: "BigNumber",
    });
    expect(await value({ expression: "0.1 + 0.2", numberMode: NumberMode.BIGNUMBER })).toBe("0.3");
    expect(await value({ expression: "0.1 + 0.2" })).toBe(0.30000000000000004);
    expect(await client.evaluate({ expression: "1/3 + 1/6", numberMode: NumberMode.FRACTION })).toMatchObject({
      text: "1/2",
      type: "Fraction",
    });
    expect(await value({ expression: "a = 2; b = a * 3; b + 1" })).toBe(7);
    expect(await value({ expression: "f(x) = x^2; f(3)" })).toBe(9);
    expect(await value({ expression: "1/0" })).toBe("Infinity");
  });

  it("refuses what defines, parses or imports code, naming the expression", async () => {
    for (const expression of [
      "import({x: 1}, {override: true})",
      'evaluate("1+1")',
      'parse("1+1")',
      'createUnit("foo")',
      'simplify("x+x")',
      'derivative("x^2", "x")',
      'compile("1")',
    ]) {
      const f = await failure(client.evaluate({ expression }));
      expect(f, expression).toMatchObject({ code: Code.InvalidArgument, fields: ["expression"] });
      expect(f.message).toMatch(/not available|is not a function|Undefined/);
    }
  });

  it("bad input names the field: syntax errors with their position, unknown symbols, bad variables", async () => {
    const syntax = await failure(client.evaluate({ expression: "2 +* 3" }));
    expect(syntax).toMatchObject({ code: Code.InvalidArgument, fields: ["expression"] });
    expect(syntax.message).toMatch(/char \d+/);
    expect((await failure(client.evaluate({ expression: "y + 1" }))).message).toMatch(/Undefined symbol y/);
    expect((await failure(client.evaluate({ expression: "" }))).fields).toEqual(["expression"]);
    expect((await failure(client.evaluate({ expression: "x", variables: { "bad name": 1 } }))).fields).toEqual([
      "variables.bad name",
    ]);
    expect((await failure(client.evaluate({ expression: "x", variables: { x: { nested: 1 } } }))).fields).toEqual([
      "variables.x",
    ]);
  });

  it("a runaway expression is stopped at its time limit, one that allocates without bound at its memory limit; others are answered meanwhile", async () => {
    const slow = failure(client.evaluate({ expression: "f(n) = n <= 0 ? 0 : f(n - 1) + f(n - 1); f(60)" }));
    // Its own pool with room in time: on a loaded machine V8's collections near the heap limit
    // can outlast a one-second limit, and the memory bound is what this case is about.
    const roomy = mathClient({ sandbox: { timeMs: 20_000, heapMib: 64, threads: 1 } });
    const huge = failure(roomy.client.evaluate({ expression: "size(zeros(20000, 20000))" }));
    // Meanwhile a small expression is answered.
    expect(await value({ expression: "2 + 2" })).toBe(4);
    const s = await slow;
    expect(s).toMatchObject({ code: Code.InvalidArgument, fields: ["expression"] });
    expect(s.message).toMatch(/longer than the 1000 ms limit/);
    const h = await huge;
    expect(h).toMatchObject({ code: Code.InvalidArgument, fields: ["expression"] });
    expect(h.message).toMatch(/memory|Invalid array length|allocation/i);
    // The pools are whole again.
    expect(await value({ expression: "3 * 3" })).toBe(9);
    expect((await roomy.client.evaluate({ expression: "2 * 5" })).text).toBe("10");
    await roomy.close();
  }, 30_000);
});

describe("A caller that goes away", () => {
  it("has its runaway expression stopped at once, not at the time limit", async () => {
    // One thread and a minute's limit: were the runaway not stopped, the next call would wait a
    // minute for the thread and the test would time out.
    const one = mathClient({ sandbox: { threads: 1, timeMs: 60_000 } });
    const abort = new AbortController();
    const call = one.client.evaluate(
      { expression: "f(n) = n <= 0 ? 0 : f(n - 1) + f(n - 1); f(60)" },
      { signal: abort.signal },
    );
    setTimeout(() => abort.abort(), 100);
    expect((await errorOf(call)).code).toBe(Code.Canceled);
    const next = await one.client.evaluate({ expression: "3 * 3" });
    expect(next.text).toBe("9");
    await one.close();
  }, 10_000);
});

describe("Simplify and Derivative", () => {
  it("textbook rules: like terms, the power rule, the chain rule", async () => {
    expect((await client.simplify({ expression: "2x + 3x" })).expression).toBe("5 * x");
    expect((await client.derivative({ expression: "x^2 + 3x", variable: "x" })).expression).toBe("2 * x + 3");
    const chain = await client.derivative({ expression: "sin(2x)", variable: "x" });
    expect(chain.expression).toBe("2 * cos(2 x)"); // mathjs keeps the implicit multiplication as written
    expect(chain.tex).toContain("\\cos");
    expect((await client.derivative({ expression: "y * x", variable: "y" })).expression).toBe("x");
  });

  it("bad input names the field", async () => {
    expect((await failure(client.simplify({ expression: "2 +" }))).fields).toEqual(["expression"]);
    expect((await failure(client.derivative({ expression: "x", variable: "1x" }))).fields).toEqual(["variable"]);
  });
});
