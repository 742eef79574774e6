/**
 * The local engine: node-llama-cpp's prebuilt CPU binary on a tiny random-weight GGUF the test
 * writes. Random weights write gibberish; what is checked is the mechanics: a completion comes
 * back with its token usage, JSON constrained by a schema parses and matches it, embeddings have
 * the model's dimension, tokens are counted by the model's own tokenizer.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { FinishReason, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import { failure } from "#test/support/in-process.js";
import { tinyModel, writeTinyGguf } from "#test/support/gguf.js";
import { llmConfig } from "../config.js";
import { llmClient } from "./helpers.js";

let dir: string;
let llm: Awaited<ReturnType<typeof llmClient>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "flowforge-gguf-"));
  const model = join(dir, "tiny.gguf");
  await writeTinyGguf(model);
  llm = await llmClient(llmConfig({ LLM_LOCAL_MODEL: model, LLM_LOCAL_CONTEXT: "2048", LLM_LOCAL_SEQUENCES: "2" }));
}, 120_000);
afterAll(async () => {
  await llm?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("local GGUF models", () => {
  it("answers a chat: text comes back, with the tokens it took", async () => {
    const out = await llm.client.chat({
      model: "default",
      system: "You are terse.",
      messages: [{ role: Role.USER, content: "Say hi" }],
      maxTokens: 8,
      temperature: 0,
    });
    expect(out.provider).toBe("local");
    expect(out.message?.role).toBe(Role.ASSISTANT);
    expect(out.usage?.promptTokens).toBeGreaterThan(0);
    expect(out.usage?.completionTokens).toBeGreaterThan(0);
    expect(out.usage?.completionTokens).toBeLessThanOrEqual(8);
    expect([FinishReason.STOP, FinishReason.LENGTH]).toContain(out.finishReason);
  });

  it("streams the same way", async () => {
    let deltas = "";
    let done = "";
    for await (const e of llm.client.streamChat({ messages: [{ role: Role.USER, content: "hi" }], maxTokens: 6 })) {
      if (e.event.case === "delta") deltas += e.event.value.content;
      if (e.event.case === "done") done = e.event.value.message?.content ?? "";
    }
    expect(deltas).toBe(done);
  });

  it("answers JSON constrained by the schema's grammar, which parses and matches", async () => {
    const schema = {
      type: "object",
      properties: { answer: { type: "boolean" } },
      required: ["answer"],
      additionalProperties: false,
    };
    const out = await llm.client.chat({
      messages: [{ role: Role.USER, content: "yes or no?" }],
      jsonOutput: { schema },
      maxTokens: 200,
    });
    const parsed = JSON.parse(out.message!.content);
    expect(typeof parsed.answer).toBe("boolean");
    expect(out.json?.kind.case).toBe("structValue");
  });

  it("embeds texts into vectors of the model's dimension", async () => {
    const out = await llm.client.embed({ texts: ["the first", "a second text"] });
    expect(out.dimensions).toBe(tinyModel.embedding);
    expect(out.embeddings.map((e) => e.values.length)).toEqual([tinyModel.embedding, tinyModel.embedding]);
    expect(out.embeddings[0].values).not.toEqual(out.embeddings[1].values);
    expect(out.usage?.promptTokens).toBeGreaterThan(0);
  });

  it("counts tokens with the model's own tokenizer", async () => {
    const out = await llm.client.countTokens({ text: "the a hi" });
    expect(out).toMatchObject({ exact: true, tokenizer: "model", contextWindow: 2048 });
    expect(out.tokens).toBeGreaterThanOrEqual(3);
  });

  it("refuses tools, which the local engine does not call, and a prompt past its context", async () => {
    const tools = await failure(
      llm.client.chat({ messages: [{ role: Role.USER, content: "x" }], tools: [{ name: "lookup" }] }),
    );
    expect(tools.code).toBe(Code.FailedPrecondition);
    expect(tools.message).toMatch(/cannot call tools/);
    const long = await failure(llm.client.chat({ messages: [{ role: Role.USER, content: "the ".repeat(3000) }] }));
    expect(long.code).toBe(Code.InvalidArgument);
    expect(long.fields).toEqual(["messages"]);
  });
});
