/** builtOnFirstCall: nothing is built until a call comes; one build serves every call; a failed build is tried again. */
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { LlmService } from "#gen/flowforge/llm/v1/llm_pb.js";
import { builtOnFirstCall } from "../on-first-call.js";

const context = { signal: new AbortController().signal, values: createContextValues() } as unknown as HandlerContext;
type Untyped = Record<string, (input: unknown, ctx: HandlerContext) => unknown>;

describe("builtOnFirstCall", () => {
  it("builds on the first call, once for calls that arrive together, and answers unary and streaming methods", async () => {
    let builds = 0;
    let stopped = 0;
    const { impl, stop } = builtOnFirstCall(LlmService, async () => {
      builds++;
      await new Promise((r) => setImmediate(r));
      return {
        impl: {
          countTokens: (req: { model: string }) => ({ tokens: req.model.length }),
          async *streamChat() {
            yield { delta: "a" };
            yield { delta: "b" };
          },
        } as never,
        stop: async () => {
          stopped++;
        },
      };
    });
    expect(builds).toBe(0);
    const calls = impl as unknown as Untyped;
    const [a, b] = await Promise.all([
      calls.countTokens({ model: "abc" }, context),
      calls.countTokens({ model: "abcdef" }, context),
    ]);
    expect([a, b]).toEqual([{ tokens: 3 }, { tokens: 6 }]);
    const deltas: unknown[] = [];
    for await (const m of calls.streamChat({}, context) as AsyncIterable<{ delta: string }>) deltas.push(m.delta);
    expect(deltas).toEqual(["a", "b"]);
    expect(builds).toBe(1);
    // A method the built implementation lacks is unimplemented, as it would be without the wrapper.
    await expect(calls.embed({}, context)).rejects.toMatchObject({ code: Code.Unimplemented });
    await stop();
    expect(stopped).toBe(1);
  });

  it("a failed build fails that call and is tried again by the next; stop before any build stops nothing", async () => {
    let builds = 0;
    const { impl, stop } = builtOnFirstCall(LlmService, async () => {
      builds++;
      if (builds === 1) throw new ConnectError("engine missing", Code.FailedPrecondition);
      return { impl: { countTokens: () => ({ tokens: 1 }) } as never };
    });
    await stop();
    expect(builds).toBe(0);
    const calls = impl as unknown as Untyped;
    await expect(calls.countTokens({}, context)).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(calls.countTokens({}, context)).resolves.toEqual({ tokens: 1 });
    expect(builds).toBe(2);
  });
});
