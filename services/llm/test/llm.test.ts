/**
 * LlmService against local servers speaking OpenAI's and Anthropic's wire protocols: chats whole
 * and streamed, tools, JSON output, images, fallbacks, retries, cooldowns, timeouts, dropped and
 * garbled streams, context windows, budgets, the cache, embeddings and token counts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import sharp from "sharp";
import { FinishReason, Role, type ChatRequest } from "#gen/flowforge/llm/v1/llm_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ChatRequestSchema } from "#gen/flowforge/llm/v1/llm_pb.js";
import { RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { asTenant, errorOf, failure } from "#test/support/in-process.js";
import {
  startAnthropicProvider,
  startOpenAiProvider,
  type TestProvider,
  testVector,
} from "#test/support/llm-providers.js";
import { until } from "#test/support/until.js";
import { llmConfig } from "../config.js";
import { createMemoryCache } from "../cache.js";
import { createMemoryUsageStore } from "../usage.js";
import { llmClient, testConfig } from "./helpers.js";

/** A ChatRequest as an object literal (not the message type, so spreads stay init shapes). */
type ChatInit = Exclude<MessageInitShape<typeof ChatRequestSchema>, ChatRequest>;
const say = (text: string, model = "fast", more: Partial<ChatInit> = {}): ChatInit => ({
  model,
  messages: [{ role: Role.USER, content: text }],
  ...more,
});
const as = asTenant;

let openai: TestProvider;
let anthropic: TestProvider;
let llm: Awaited<ReturnType<typeof llmClient>>;
let usage: ReturnType<typeof createMemoryUsageStore>;

beforeAll(async () => {
  [openai, anthropic] = await Promise.all([startOpenAiProvider(), startAnthropicProvider()]);
  usage = createMemoryUsageStore();
  llm = await llmClient(testConfig({ openai: openai.url, anthropic: anthropic.url }), { usage });
});
afterAll(async () => {
  await llm?.close();
  await Promise.all([openai?.close(), anthropic?.close()]);
});

// biome-ignore lint/suspicious/noExplicitAny: the providers' request bodies are read as sent
const lastBody = (p: TestProvider) => p.received.at(-1)!.body as Record<string, any>;

describe("Chat", () => {
  it("answers through an OpenAI-compatible server, with usage and cost by the price table", async () => {
    const out = await llm.client.chat(say("Say hi"), as("tenant-a", { "x-flowforge-key-id": "key-1" }));
    expect(out.message?.role).toBe(Role.ASSISTANT);
    expect(out.message?.content).toBe("You said: Say hi");
    expect(out.finishReason).toBe(FinishReason.STOP);
    expect(out.provider).toBe("openai");
    expect(out.providerModel).toBe("echo");
    expect(out.model).toBe("fast");
    expect(out.usage?.completionTokens).toBe(4);
    expect(out.usage?.promptTokens).toBeGreaterThan(0);
    expect(out.usage?.totalTokens).toBe(out.usage!.promptTokens + 4);
    expect(out.usage?.costUsd).toBeCloseTo((out.usage!.promptTokens * 1 + 4 * 2) / 1e6, 12);
    expect(openai.received.at(-1)!.headers.authorization).toBe("Bearer sk-test");
    const row = usage.rows.at(-1)!;
    expect(row).toMatchObject({ tenant: "tenant-a", keyId: "key-1", provider: "openai", model: "echo" });
    expect(row.usage.completion).toBe(4);
  });

  it("sends the system prompt, every turn and the sampling settings", async () => {
    await llm.client.chat({
      model: "fast",
      system: "Be brief.",
      messages: [
        { role: Role.USER, content: "One" },
        { role: Role.ASSISTANT, content: "Two" },
        { role: Role.USER, content: "Three" },
      ],
      temperature: 0.5,
      topP: 0.9,
      maxTokens: 20,
      stop: ["END"],
      seed: 7n,
      noCache: true,
    });
    const body = lastBody(openai);
    expect(body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "One" },
      { role: "assistant", content: "Two" },
      { role: "user", content: "Three" },
    ]);
    expect(body).toMatchObject({ temperature: 0.5, top_p: 0.9, max_tokens: 20, stop: ["END"], seed: 7, stream: true });
  });

  it("answers through Anthropic's Messages API, cached prompt tokens counted", async () => {
    const out = await llm.client.chat({ ...say("Bonjour", "claude"), system: "Sois bref." });
    expect(out.message?.content).toBe("You said: Bonjour");
    expect(out.provider).toBe("anthropic");
    expect(out.usage?.cachedTokens).toBe(2);
    const body = lastBody(anthropic);
    expect(body.system).toBe("Sois bref.");
    expect(body.max_tokens).toBe(4096);
    const { headers } = anthropic.received.at(-1)!;
    expect(headers["x-api-key"] ?? headers.authorization).toMatch(/^(Bearer )?ak-test$/);
  });

  it("stops at max_tokens with finish reason LENGTH", async () => {
    const out = await llm.client.chat(say("one two three four five six", "fast", { maxTokens: 2 }));
    expect(out.finishReason).toBe(FinishReason.LENGTH);
    expect(out.message?.content).toBe("You said: ");
  });

  it("calls tools, and the results go back to the model", async () => {
    const tools = [
      {
        name: "get_weather",
        description: "The weather in a city",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      },
    ];
    for (const model of ["tools", "claude-tools"]) {
      const out = await llm.client.chat({ ...say("Weather in Paris?", model), tools });
      expect(out.finishReason).toBe(FinishReason.TOOL_CALLS);
      expect(out.message?.toolCalls).toHaveLength(1);
      const call = out.message!.toolCalls[0];
      expect(call.name).toBe("get_weather");
      expect(JSON.parse(call.arguments)).toEqual({ city: "Paris" });
      expect(call.id).not.toBe("");
      const next = await llm.client.chat({
        model: model === "tools" ? "fast" : "claude",
        tools,
        messages: [
          { role: Role.USER, content: "Weather in Paris?" },
          { role: Role.ASSISTANT, toolCalls: [call] },
          { role: Role.TOOL, toolCallId: call.id, content: "18°C, sunny" },
        ],
      });
      expect(next.message?.content).toBe("You said: Weather in Paris?");
    }
    const openaiBody = lastBody(openai);
    expect(openaiBody.messages[1].tool_calls[0].function.name).toBe("get_weather");
    expect(openaiBody.messages[2]).toEqual({ role: "tool", tool_call_id: "call_1", content: "18°C, sunny" });
    const anthropicBody = lastBody(anthropic);
    expect(anthropicBody.messages[1].content[0]).toMatchObject({
      type: "tool_use",
      id: "toolu_1",
      input: { city: "Paris" },
    });
    expect(anthropicBody.messages[2].content[0]).toMatchObject({ type: "tool_result", tool_use_id: "toolu_1" });
  });

  it("answers JSON matching the schema, parsed, from either provider", async () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" } },
      required: ["name", "age"],
    };
    for (const model of ["json", "claude-json"]) {
      const out = await llm.client.chat({ ...say("Who?", model), jsonOutput: { name: "person", schema } });
      expect(JSON.parse(out.message!.content)).toEqual({ name: "Ada", age: 36 });
      expect(out.json?.kind.case).toBe("structValue");
      expect(out.finishReason).toBe(FinishReason.STOP);
    }
    expect(openai.received.at(-1)!.body.response_format).toEqual({
      type: "json_schema",
      json_schema: { name: "person", schema },
    });
  });

  it("takes images inline and sends them as the provider expects", async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } })
      .png()
      .toBuffer();
    await llm.client.chat({
      model: "fast",
      messages: [
        {
          role: Role.USER,
          parts: [
            { part: { case: "text", value: "What colour?" } },
            { part: { case: "image", value: { source: { case: "data", value: png } } } },
          ],
        },
      ],
    });
    const content = (lastBody(openai).messages[0] as { content: { type: string; image_url?: { url: string } }[] })
      .content;
    expect(content[0]).toEqual({ type: "text", text: "What colour?" });
    expect(content[1].image_url?.url).toBe(`data:image/png;base64,${png.toString("base64")}`);
    await llm.client.chat({
      model: "claude",
      messages: [
        { role: Role.USER, parts: [{ part: { case: "image", value: { source: { case: "data", value: png } } } }] },
      ],
    });
    expect(lastBody(anthropic).messages[0].content[0]).toEqual({
      type: "image",
      source: { type: "base64", media_type: "image/png", data: png.toString("base64") },
    });
  });
});

describe("StreamChat", () => {
  it("streams deltas as they come, then the whole answer with usage", async () => {
    const events = [];
    for await (const e of llm.client.streamChat(say("a b c"))) events.push(e.event);
    const deltas = events.filter((e) => e.case === "delta").map((e) => e.value!.content);
    expect(deltas).toEqual(["You ", "said: ", "a ", "b ", "c"]);
    const done = events.at(-1);
    expect(done?.case).toBe("done");
    if (done?.case !== "done") throw new Error("no done");
    expect(done.value.message?.content).toBe("You said: a b c");
    expect(done.value.usage?.completionTokens).toBe(5);
  });

  it("streams tool calls as deltas", async () => {
    const events = [];
    for await (const e of llm.client.streamChat({ ...say("x", "tools"), tools: [{ name: "lookup" }] }))
      events.push(e.event);
    const calls = events.filter((e) => e.case === "delta").map((e) => e.value!.toolCall);
    expect(calls[0]).toMatchObject({ id: "call_1", name: "lookup" });
    expect(calls.map((c) => c?.arguments).join("")).toBe('{"city":"Paris"}');
  });

  it("a stream dropped half-way ends in unavailable after the part that was sent", async () => {
    const got: string[] = [];
    const err = await errorOf(
      (async () => {
        for await (const e of llm.client.streamChat(say("one two three four", "drop"))) {
          got.push(e.event.value!.toString());
          if (got.length === 2) openai.cut(); // the provider drops the stream once these two arrived
        }
      })(),
    );
    expect(got.length).toBe(2);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/after part of the answer was sent/);
  });
});

describe("routing", () => {
  it("retries a 429 honouring Retry-After, then answers", async () => {
    const before = openai.received.filter((r) => r.body.model === "rate-limited-once").length;
    const out = await llm.client.chat(say("hello", "rate-limited-once"));
    expect(out.message?.content).toBe("You said: hello");
    expect(openai.received.filter((r) => r.body.model === "rate-limited-once").length - before).toBe(2);
  });

  it("gives up on a provider that keeps answering 429 with resource_exhausted and its retry delay", async () => {
    const err = await errorOf(llm.client.chat(say("hello", "always-429")));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
    expect(openai.received.filter((r) => r.body.model === "always-429")).toHaveLength(2);
  });

  it("falls back to the next alias when a deployment fails, and skips the failed one while it cools down", async () => {
    const count = () => openai.received.filter((r) => r.body.model === "always-500~b").length;
    const before = count();
    const out = await llm.client.chat(say("hello", "with-fallback"));
    expect(out.provider).toBe("anthropic");
    expect(count() - before).toBe(1);
    const again = await llm.client.chat(say("again", "with-fallback"));
    expect(again.provider).toBe("anthropic");
    expect(count() - before).toBe(1); // cooling down: not asked again
  });

  it("answers unavailable naming the provider when it keeps failing", async () => {
    const err = await errorOf(llm.client.chat(say("hello", "always-500")));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/openai failed \(500\)/);
  });

  it("a provider that never answers is abandoned after the alias's timeout, and the request is cancelled", async () => {
    const cancelled = openai.cancelled;
    const err = await errorOf(llm.client.chat(say("hello", "hang")));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(err.rawMessage).toMatch(/sent nothing for 300 ms/);
    await until(() => openai.cancelled > cancelled);
  });

  it("the caller going away cancels the provider's request", async () => {
    const cancelled = openai.cancelled;
    const open = openai.open;
    const controller = new AbortController();
    const call = llm.client.chat(say("hello", "hang-long"), { signal: controller.signal });
    void call.catch(() => {});
    await until(() => openai.open > open);
    controller.abort();
    expect((await errorOf(call)).code).toBe(Code.Canceled);
    await until(() => openai.cancelled > cancelled);
  });

  it("a garbled stream is unavailable, not a crash", async () => {
    const err = await errorOf(llm.client.chat(say("hello", "garbage")));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/not its protocol|ended the stream/);
  });

  it("skips a fallback whose context window is too small, and refuses when none fits", async () => {
    const long = "word ".repeat(200);
    const out = await llm.client.chat(say(long, "small"));
    expect(out.model).toBe("small");
    expect(out.providerModel).toBe("echo");
    const f = await failure(llm.client.chat(say(long, "tiny")));
    expect(f.code).toBe(Code.InvalidArgument);
    expect(f.fields).toEqual(["messages"]);
    expect(f.message).toMatch(/context window of "tiny".*at most 50/);
  });

  it("a tool the model names but the request does not declare is refused, named", async () => {
    const err = await errorOf(llm.client.chat({ ...say("x", "undeclared-tool"), tools: [{ name: "lookup" }] }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/tool "launch_missiles", which tools does not declare/);
  });

  it("JSON that does not match the schema is refused, naming where", async () => {
    const schema = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };
    const err = await errorOf(llm.client.chat({ ...say("x", "bad-json"), jsonOutput: { schema } }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/does not match json_output.schema: \/name must be string/);
  });

  it("nothing is recorded in usage for a call that failed", async () => {
    const rows = usage.rows.length;
    await errorOf(llm.client.chat(say("hello", "always-500")));
    await errorOf(llm.client.chat(say("hello", "garbage")));
    expect(usage.rows.length).toBe(rows);
  });
});

describe("bad input", () => {
  it.each([
    ["no messages", { model: "fast", messages: [] }, "messages"],
    ["an unknown alias", say("x", "gpt-17"), "model"],
    ["a temperature out of range", say("x", "fast", { temperature: 3 }), "temperature"],
    ["top_p of 0", say("x", "fast", { topP: 0 }), "top_p"],
    ["max_tokens 0", say("x", "fast", { maxTokens: 0 }), "max_tokens"],
    ["five stop texts", say("x", "fast", { stop: ["a", "b", "c", "d", "e"] }), "stop"],
    ["a message without a role", { messages: [{ content: "x" }] }, "messages[0].role"],
    ["an empty message", { messages: [{ role: Role.USER }] }, "messages[0].content"],
    ["a bad tool name", say("x", "tools", { tools: [{ name: "no spaces" }] }), "tools[0].name"],
    ["a tool declared twice", say("x", "tools", { tools: [{ name: "a" }, { name: "a" }] }), "tools[1].name"],
    ["a tool choice not declared", say("x", "tools", { tools: [{ name: "a" }], toolChoice: "b" }), "tool_choice"],
    ["an invalid JSON Schema", say("x", "json", { jsonOutput: { schema: { type: "objekt" } } }), "json_output.schema"],
    [
      "a tool result answering no call",
      {
        messages: [
          { role: Role.USER, content: "x" },
          { role: Role.TOOL, toolCallId: "nope", content: "y" },
        ],
      },
      "messages[1].tool_call_id",
    ],
    [
      "tool call arguments that are not JSON",
      {
        messages: [
          { role: Role.USER, content: "x" },
          { role: Role.ASSISTANT, toolCalls: [{ id: "c", name: "a", arguments: "{oops" }] },
        ],
      },
      "messages[1].tool_calls[0].arguments",
    ],
    [
      "an image that is not one",
      {
        messages: [
          {
            role: Role.USER,
            parts: [{ part: { case: "image", value: { source: { case: "data", value: new Uint8Array([1, 2, 3]) } } } }],
          },
        ],
      },
      "messages[0].parts[0].image",
    ],
  ] as [string, ChatInit, string][])("%s is refused naming %s", async (_name, request, field) => {
    const f = await failure(llm.client.chat(request));
    expect(f.code).toBe(Code.InvalidArgument);
    expect(f.fields).toEqual([field]);
  });

  it("tools on a model that cannot call them is failed_precondition naming what is missing", async () => {
    const config = testConfig(
      { openai: openai.url, anthropic: anthropic.url },
      { LLM_MODELS: JSON.stringify({ plain: { provider: "openai", model: "echo", tools: false } }) },
    );
    const other = await llmClient(config);
    const f = await failure(other.client.chat({ ...say("x", "plain"), tools: [{ name: "a" }] }));
    expect(f.code).toBe(Code.FailedPrecondition);
    expect(f.message).toMatch(/"plain" cannot call tools/);
    await other.close();
  });

  it("with no provider configured every method answers failed_precondition naming what to set", async () => {
    const none = await llmClient(llmConfig({}));
    for (const call of [
      none.client.chat(say("x", "default")),
      none.client.embed({ texts: ["x"] }),
      none.client.countTokens({ text: "x" }),
      (async () => {
        for await (const _ of none.client.streamChat(say("x", "default")));
      })(),
    ]) {
      const err = await errorOf(call);
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toMatch(/OPENAI_BASE_URL.*ANTHROPIC_API_KEY.*LLM_LOCAL_MODEL/);
    }
    expect((await none.client.listModels({})).models).toEqual([]);
    await none.close();
  });
});

describe("budgets and the cache", () => {
  it("refuses a tenant's calls once its daily budget is spent, other tenants unaffected", async () => {
    const store = createMemoryUsageStore();
    const config = testConfig(
      { openai: openai.url, anthropic: anthropic.url },
      { LLM_BUDGETS: JSON.stringify({ "tenant-b": { tokensPerDay: 5 } }) },
    );
    const budgeted = await llmClient(config, { usage: store });
    await budgeted.client.chat(say("spend it all"), as("tenant-b"));
    const asked = openai.received.length;
    const f = await failure(budgeted.client.chat(say("more"), as("tenant-b")));
    expect(f.code).toBe(Code.ResourceExhausted);
    expect(f.message).toMatch(/budget of 5 tokens a day is spent/);
    expect(openai.received.length).toBe(asked); // refused before the provider was asked
    expect((await budgeted.client.chat(say("fine"), as("tenant-c"))).message?.content).toBe("You said: fine");
    await budgeted.close();
  });

  it("answers a deterministic request from the cache, per tenant, unless asked not to", async () => {
    const cached = await llmClient(testConfig({ openai: openai.url, anthropic: anthropic.url }), {
      cache: createMemoryCache(60),
    });
    const count = () => openai.received.length;
    const start = count();
    const first = await cached.client.chat(say("cache me", "fast", { temperature: 0 }), as("t1"));
    const second = await cached.client.chat(say("cache me", "fast", { temperature: 0 }), as("t1"));
    expect(first.cached).toBe(false);
    expect(second.cached).toBe(true);
    expect(second.message?.content).toBe(first.message?.content);
    expect(second.usage?.totalTokens).toBe(0);
    expect(count() - start).toBe(1);
    await cached.client.chat(say("cache me", "fast", { temperature: 0 }), as("t2"));
    await cached.client.chat(say("cache me", "fast", { temperature: 0, noCache: true }), as("t1"));
    await cached.client.chat(say("cache me", "fast", { temperature: 0.7 }), as("t1"));
    expect(count() - start).toBe(4);
    await cached.close();
  });
});

describe("Embed, CountTokens, ListModels", () => {
  it("embeds texts in order, in batches, with usage", async () => {
    const texts = Array.from({ length: 300 }, (_, i) => `text number ${i}`);
    const asked = openai.received.length;
    const out = await llm.client.embed({ model: "embed", texts });
    expect(out.embeddings).toHaveLength(300);
    expect(out.dimensions).toBe(8);
    expect(out.embeddings[299].values).toEqual(testVector("text number 299").map((v) => Math.fround(v)));
    expect(openai.received.length - asked).toBe(2); // 256 + 44
    expect(out.usage?.promptTokens).toBeGreaterThan(0);
    const shorter = await llm.client.embed({ model: "embed", texts: ["a"], dimensions: 4 });
    expect(shorter.dimensions).toBe(4);
  });

  it("refuses embeddings from a model without them, and empty texts", async () => {
    expect((await failure(llm.client.embed({ model: "claude", texts: ["x"] }))).code).toBe(Code.FailedPrecondition);
    expect((await failure(llm.client.embed({ model: "embed", texts: ["x", ""] }))).fields).toEqual(["texts[1]"]);
    expect((await failure(llm.client.embed({ model: "embed", texts: [] }))).fields).toEqual(["texts"]);
  });

  it("counts tokens exactly with an OpenAI model's encoding, and estimates for others", async () => {
    const gpt = await llmClient(
      testConfig(
        { openai: openai.url, anthropic: anthropic.url },
        { LLM_MODELS: JSON.stringify({ g: { provider: "openai", model: "gpt-4o-mini", contextWindow: 128000 } }) },
      ),
    );
    const exact = await gpt.client.countTokens({ model: "g", text: "hello world" });
    expect(exact).toMatchObject({ tokens: 2, exact: true, tokenizer: "o200k_base", contextWindow: 128000 });
    const chat = await gpt.client.countTokens({ model: "g", chat: say("hello world") });
    expect(chat.tokens).toBeGreaterThan(2);
    await gpt.close();
    const estimate = await llm.client.countTokens({ model: "claude", text: "hello world" });
    expect(estimate.exact).toBe(false);
  });

  it("lists the aliases, default first, with what each can do and its price", async () => {
    const { models } = await llm.client.listModels({});
    expect(models[0].alias).toBe("default");
    expect(models[0].provider).toBe("openai");
    const claude = models.find((m) => m.alias === "claude")!;
    expect(claude).toMatchObject({ provider: "anthropic", tools: true, embeddings: false, contextWindow: 200000 });
    const fast = models.find((m) => m.alias === "fast")!;
    expect(fast).toMatchObject({ promptPrice: 1, completionPrice: 2 });
    expect(models.find((m) => m.alias === "with-fallback")?.fallbacks).toEqual(["claude"]);
  });
});
