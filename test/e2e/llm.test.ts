/**
 * LlmService as `npm start` runs it, against local servers speaking OpenAI's and Anthropic's wire
 * protocols: the acceptance shapes (Connect JSON Chat; `/v1/chat/completions` with a
 * FlowForge key), streams on every protocol (Connect, gRPC, gRPC-Web, REST Server-Sent Events),
 * the official `openai` client against the gateway's OpenAI-compatible front, a batch of chats as
 * one job with its text as progress, tokens recorded per tenant (streams included) and read back
 * by the tenant and the admin, a budget refusing a tenant once spent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatRequestSchema, ChatResponseSchema, LlmService, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { connectClient, errorOf, grpcWebClient, postJson } from "#test/support/clients.js";
import { pack, watchAll } from "#test/support/jobs.js";
import { startAnthropicProvider, startOpenAiProvider, type TestProvider } from "#test/support/llm-providers.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";
import { until } from "#test/support/until.js";
import sharp from "sharp";

let mesh: Mesh;
let openai: TestProvider;
let anthropic: TestProvider;
let acmeKey: string;
let otherKey: string;
let budgetKey: string;

beforeAll(async () => {
  [openai, anthropic] = await Promise.all([startOpenAiProvider(), startAnthropicProvider()]);
  mesh = await startMesh({
    OPENAI_BASE_URL: openai.url,
    OPENAI_API_KEY: "sk-upstream",
    OPENAI_MODEL: "echo",
    OPENAI_EMBEDDING_MODEL: "embed",
    ANTHROPIC_BASE_URL: anthropic.url,
    ANTHROPIC_API_KEY: "ak-upstream",
    ANTHROPIC_MODEL: "echo",
    LLM_MODELS: JSON.stringify({
      tools: { provider: "openai", model: "tools" },
      hang: { provider: "openai", model: "hang", retries: 0 },
    }),
    LLM_PRICES: JSON.stringify({ echo: { prompt: 1, completion: 2 } }),
    LLM_BUDGETS: JSON.stringify({ "budget-t": { tokensPerDay: 5 } }),
  });
  const key = async (tenantId: string) =>
    (await postJson(mesh, "/flowforge.admin.v1.AdminService/CreateApiKey", { tenantId, name: "llm", tier: "TIER_PRO" }))
      .body.secret as string;
  [acmeKey, otherKey, budgetKey] = await Promise.all([key("acme"), key("other"), key("budget-t")]);
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
  await Promise.all([openai?.close(), anthropic?.close()]);
});

const as = (key: string) => ({ "content-type": "application/json", authorization: `Bearer ${key}` });
const post = async (path: string, body: object, key = acmeKey) => {
  const res = await fetch(`${mesh.url}${path}`, { method: "POST", headers: as(key), body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};
const get = async (path: string, key = acmeKey) => {
  const res = await fetch(`${mesh.url}${path}`, { headers: as(key) });
  return { status: res.status, body: await res.json() };
};
const sayHi = { model: "default", messages: [{ role: "ROLE_USER", content: "Say hi" }] };
/** Completion tokens of acme's answers, as the answers reported them. */
let acmeCompletion = 0;

describe("LlmService through the gateway", () => {
  it("Chat answers the acceptance shape in Connect JSON", async () => {
    const res = await post("/flowforge.llm.v1.LlmService/Chat", sayHi);
    expect(res.status).toBe(200);
    expect(res.body.message).toEqual({ role: "ROLE_ASSISTANT", content: "You said: Say hi" });
    expect(res.body).toMatchObject({ finishReason: "FINISH_REASON_STOP", provider: "openai", model: "default" });
    expect(Number(res.body.usage.completionTokens)).toBe(4);
    acmeCompletion += 4;
    // The provider got the operator's key, never the caller's.
    expect(openai.received.at(-1)!.headers.authorization).toBe("Bearer sk-upstream");
  });

  it("StreamChat streams over Connect, gRPC and gRPC-Web alike", async () => {
    const request = { model: "anthropic", messages: [{ role: Role.USER, content: "one two" }] };
    const clients = [
      connectClient(LlmService, mesh.url, acmeKey),
      createClient(
        LlmService,
        createGrpcTransport({
          baseUrl: mesh.url,
          interceptors: [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${acmeKey}`);
              return next(req);
            },
          ],
        }),
      ),
      grpcWebClient(LlmService, mesh.url, acmeKey),
    ];
    for (const client of clients) {
      let text = "";
      let done = "";
      for await (const { event } of client.streamChat(request)) {
        if (event.case === "delta") text += event.value.content;
        if (event.case === "done") {
          done = event.value.message?.content ?? "";
          expect(event.value.provider).toBe("anthropic");
          acmeCompletion += event.value.usage?.completionTokens ?? 0;
        }
      }
      expect(text).toBe("You said: one two");
      expect(done).toBe(text);
    }
  });

  it("REST answers Chat as JSON and StreamChat as Server-Sent Events; ListModels by GET", async () => {
    const chat = await post("/api/v1/llm/chat", { messages: [{ role: "user", content: "rest" }] });
    expect(chat.status).toBe(200);
    expect(chat.body.message.content).toBe("You said: rest");
    acmeCompletion += Number(chat.body.usage.completionTokens);
    const res = await fetch(`${mesh.url}/api/v1/llm/chat:stream`, {
      method: "POST",
      headers: as(acmeKey),
      body: JSON.stringify({ messages: [{ role: "user", content: "sse" }] }),
    });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = (await res.text())
      .trim()
      .split("\n\n")
      .map((block) => {
        const [event, data] = block.split("\n");
        return { event: event.replace("event: ", ""), data: JSON.parse(data.replace("data: ", "")) };
      });
    expect(
      events
        .filter((e) => e.event === "delta")
        .map((e) => e.data.delta.content)
        .join(""),
    ).toBe("You said: sse");
    const done = events.at(-1)!;
    expect(done.event).toBe("done");
    acmeCompletion += Number(done.data.done.usage.completionTokens);
    const models = await get("/api/v1/llm/models");
    expect(models.body.models.map((m: { alias: string }) => m.alias)).toEqual([
      "default",
      "anthropic",
      "hang",
      "openai",
      "tools",
    ]);
  });

  it("takes an image by blob id, read from the caller's tenant", async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: "blue" } })
      .png()
      .toBuffer();
    const put = await fetch(`${mesh.url}/api/v1/blobs?filename=pic.png`, {
      method: "PUT",
      headers: { authorization: `Bearer ${acmeKey}`, "content-type": "image/png" },
      body: png,
    });
    const { blob } = await put.json();
    const image = { image: { blobId: blob.blobId } };
    const res = await post("/api/v1/llm/chat", {
      messages: [{ role: "user", content: "what is it?", parts: [image] }],
    });
    expect(res.status).toBe(200);
    acmeCompletion += Number(res.body.usage.completionTokens);
    const sent = openai.received.at(-1)!.body.messages as { content: { image_url?: { url: string } }[] }[];
    expect(sent[0].content[1].image_url?.url).toBe(`data:image/png;base64,${png.toString("base64")}`);
    // Another tenant cannot use it.
    const theirs = await post("/api/v1/llm/chat", { messages: [{ role: "user", parts: [image] }] }, otherKey);
    expect(theirs.status).toBe(404);
  });

  it("a caller going away cancels the provider's request, and others are answered meanwhile", async () => {
    const cancelled = openai.cancelled;
    const open = openai.open;
    const controller = new AbortController();
    const hanging = fetch(`${mesh.url}/v1/chat/completions`, {
      method: "POST",
      headers: as(acmeKey),
      body: JSON.stringify({ model: "hang", stream: true, messages: [{ role: "user", content: "wait" }] }),
      signal: controller.signal,
    }).catch((e) => e);
    await until(() => openai.open > open);
    const meanwhile = await post("/flowforge.llm.v1.LlmService/Chat", sayHi, otherKey);
    expect(meanwhile.status).toBe(200);
    controller.abort();
    await hanging;
    await until(() => openai.cancelled > cancelled);
  });

  it("bad input is named in each protocol's error", async () => {
    const none = await post("/flowforge.llm.v1.LlmService/Chat", { model: "default", messages: [] });
    expect(none.status).toBe(400);
    expect(none.body.details[0].debug.fieldViolations[0].field).toBe("messages");
    const alias = await post("/api/v1/llm/chat", { model: "gpt-17", messages: [{ role: "user", content: "x" }] });
    expect([alias.status, alias.body.error.details[0].field]).toEqual([400, "model"]);
    const err = await errorOf(
      connectClient(LlmService, mesh.url, acmeKey).chat({
        jsonOutput: { schema: { type: 7 } },
        messages: [{ role: Role.USER, content: "x" }],
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
  });
});

describe("the OpenAI-compatible front with the official openai client", () => {
  const client = () => new OpenAI({ baseURL: `${mesh.url}/v1`, apiKey: acmeKey, maxRetries: 0 });

  it("answers the acceptance shape: a chat.completion", async () => {
    const res = await fetch(`${mesh.url}/v1/chat/completions`, {
      method: "POST",
      headers: as(acmeKey),
      body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "Say hi" }] }),
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "default",
      choices: [{ index: 0, message: { role: "assistant", content: "You said: Say hi" }, finish_reason: "stop" }],
      usage: { completion_tokens: 4 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    acmeCompletion += 4;
  });

  it("chats, streams with usage, calls tools, embeds and lists models", async () => {
    const openaiClient = client();
    const completion = await openaiClient.chat.completions.create({
      model: "default",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hello there" },
      ],
      temperature: 0.2,
    });
    expect(completion.choices[0].message.content).toBe("You said: hello there");
    acmeCompletion += completion.usage!.completion_tokens;
    expect(openai.received.at(-1)!.body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello there" },
    ]);

    const stream = await openaiClient.chat.completions.create({
      model: "anthropic",
      messages: [{ role: "user", content: "stream me" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe("You said: stream me");
    expect(finish).toBe("stop");
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    acmeCompletion += usage!.completion_tokens;

    const tools = await openaiClient.chat.completions.create({
      model: "tools",
      messages: [{ role: "user", content: "weather?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
    });
    expect(tools.choices[0].finish_reason).toBe("tool_calls");
    expect(tools.choices[0].message.tool_calls?.[0]).toMatchObject({
      type: "function",
      function: { name: "get_weather", arguments: '{"city":"Paris"}' },
    });
    acmeCompletion += tools.usage!.completion_tokens;

    const embeddings = await openaiClient.embeddings.create({ model: "default", input: ["a", "b"] });
    expect(embeddings.data.map((d) => d.embedding.length)).toEqual([8, 8]);
    const models = await openaiClient.models.list();
    expect(models.data.map((m) => m.id)).toContain("default");
    expect((await openaiClient.models.retrieve("anthropic")).owned_by).toBe("anthropic");
  });

  it("errors come back as OpenAI's: 400 naming the param, 401 for a bad key, 404 for an unknown route", async () => {
    const bad = await client()
      .chat.completions.create({ model: "gpt-17", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe("model");
    const unauthorized = await new OpenAI({ baseURL: `${mesh.url}/v1`, apiKey: "ff_wrong", maxRetries: 0 }).models
      .list()
      .catch((e) => e);
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError);
    const missing = await fetch(`${mesh.url}/v1/images/generations`, {
      method: "POST",
      headers: as(acmeKey),
      body: "{}",
    });
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.type).toBe("invalid_request_error");
  });
});

describe("jobs, usage and budgets", () => {
  it("runs a batch of chats as one job, each item's text streamed as progress", async () => {
    const jobs = connectClient(JobService, mesh.url, acmeKey);
    const rows = ["apples", "pears", "plums"];
    const { job } = await jobs.submitJob({
      method: "flowforge.llm.v1.LlmService/Chat",
      items: rows.map((row) =>
        pack(ChatRequestSchema, { messages: [{ role: Role.USER, content: `classify ${row}` }] }),
      ),
    });
    const events = await watchAll(jobs, job!.id);
    const finished = events.flatMap((e) => (e.event.case === "itemFinished" ? [e.event.value.item!] : []));
    const answers = finished
      .sort((a, b) => a.index - b.index)
      .map((item) => anyUnpack(item.result!, ChatResponseSchema)!);
    expect(answers.map((a) => a.message?.content)).toEqual(rows.map((r) => `You said: classify ${r}`));
    for (const a of answers) acmeCompletion += a.usage?.completionTokens ?? 0;
    const progress = events.flatMap((e) => (e.event.case === "progress" ? [e.event.value.message] : []));
    expect(progress.join("")).toContain("You ");
    expect(events.at(-1)!.event).toMatchObject({ case: "stateChanged", value: { state: JobState.SUCCEEDED } });
  });

  it("tokens are recorded per tenant, streams included; the tenant and the admin read them back, others do not", async () => {
    const mine = await get("/api/v1/account/token-usage");
    expect(mine.status).toBe(200);
    const rows = mine.body.usage as { tenantId: string; provider: string; completionTokens: string; costUsd: number }[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.tenantId === "acme")).toBe(true);
    const completion = rows.reduce((n, r) => n + Number(r.completionTokens), 0);
    expect(completion).toBe(acmeCompletion);
    const echo = rows.find((r) => r.provider === "openai" && (r as { model?: string }).model === "echo")!;
    expect(echo.costUsd).toBeGreaterThan(0);
    const theirs = await get("/api/v1/account/token-usage", otherKey);
    expect(theirs.body.usage.length).toBeGreaterThan(0);
    expect(theirs.body.usage.every((r: { tenantId: string }) => r.tenantId === "other")).toBe(true);
    const admin = await get("/api/v1/admin/token-usage?tenant_id=acme", mesh.adminKey);
    expect(
      admin.body.usage.reduce((n: number, r: { completionTokens: string }) => n + Number(r.completionTokens), 0),
    ).toBe(acmeCompletion);
  });

  it("a tenant's spent budget refuses its next call with resource_exhausted, and 429 insufficient_quota on /v1", async () => {
    const first = await post("/flowforge.llm.v1.LlmService/Chat", sayHi, budgetKey);
    expect(first.status).toBe(200);
    const second = await post("/flowforge.llm.v1.LlmService/Chat", sayHi, budgetKey);
    expect(second.status).toBe(429);
    expect(second.body.code).toBe("resource_exhausted");
    expect(second.body.message).toMatch(/budget of 5 tokens a day is spent/);
    const viaOpenAi = await new OpenAI({ baseURL: `${mesh.url}/v1`, apiKey: budgetKey, maxRetries: 0 }).chat.completions
      .create({ model: "default", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(viaOpenAi).toBeInstanceOf(OpenAI.RateLimitError);
    expect(viaOpenAi.code).toBe("insufficient_quota");
    // Other tenants keep being answered.
    expect((await post("/flowforge.llm.v1.LlmService/Chat", sayHi, otherKey)).status).toBe(200);
  });
});
