/**
 * LlmService: chats (whole or streamed), embeddings, token counts and the model table, over the
 * providers the operator configured. Every chat is checked (request.ts), counted against the
 * context windows and the tenant's budget, answered from the cache when deterministic, routed
 * with fallbacks and retries (router.ts), its answer checked against the request, and its tokens
 * and cost recorded.
 */
import { createHash } from "node:crypto";
import { create, fromBinary, fromJson, type JsonValue, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type ChatRequest,
  ChatRequestSchema,
  type ChatResponse,
  ChatResponseSchema,
  ChatDeltaSchema,
  type LlmService,
  UsageSchema,
  Role,
  type StreamChatResponse,
} from "#gen/flowforge/llm/v1/llm_pb.js";
import type { BlobReader } from "#blobs/index.js";
import { progressKey, tenantKey } from "#runtime/context.js";
import { check } from "#runtime/errors.js";
import type { LlmConfig, ModelAlias } from "./config.js";
import type { ChatEvent, Provider, TokenUsage } from "./providers/provider.js";
import { type Answer, checkAnswer, checkChat, type CheckedChat } from "./request.js";
import { createRouter, type Attempt } from "./router.js";
import { countChat, tokenizerFor } from "./tokens.js";
import { checkBudget, costOf, createMemoryUsageStore, type UsageStore } from "./usage.js";
import type { ResponseCache } from "./cache.js";

/** Options for createLlmService. */
export interface LlmServiceOptions {
  config: Pick<LlmConfig, "aliases" | "prices" | "budgets" | "cooldownMs" | "maxRetryAfterMs">;
  /** Providers by name, as the aliases name them. */
  providers: Map<string, Provider>;
  /** Where usage goes. @default in memory */
  usage?: UsageStore;
  /** The response cache (none: every call goes to a provider). */
  cache?: ResponseCache;
  /** Where images given by blob id are read. */
  blobs?: BlobReader;
  /** First retry delay (tests shorten it). @default 200 */
  retryBaseMs?: number;
}

/** What to set when no provider is configured. */
export const unconfigured =
  "set OPENAI_BASE_URL and/or OPENAI_API_KEY (an OpenAI-compatible server), ANTHROPIC_API_KEY (Anthropic), or LLM_LOCAL_MODEL (a GGUF file run in-process)";

/** Texts embedded per provider request. */
export const embedBatch = 256;
/** Most texts one Embed takes. */
export const maxEmbedTexts = 10_000;
/** How often a job's streamed text is reported as progress. */
const progressEveryMs = 250;

type ChatResponseInit = MessageInitShape<typeof ChatResponseSchema>;
/** An event of an attempt: the provider's, and with "done" the checked answer. */
type Checked = ChatEvent | { type: "answer"; answer: Answer; json: unknown; finish: ChatEvent & { type: "done" } };

/** Creates the LlmService implementation. */
export function createLlmService(options: LlmServiceOptions) {
  const { config, providers, cache } = options;
  const usage = options.usage ?? createMemoryUsageStore();
  const router = createRouter({
    aliases: config.aliases,
    providers,
    cooldownMs: config.cooldownMs,
    maxRetryAfterMs: config.maxRetryAfterMs,
    retryBaseMs: options.retryBaseMs,
    unconfigured,
  });

  const tokenizerOf = (d: ModelAlias, model = d.model) => {
    const provider = providers.get(d.provider);
    return tokenizerFor(model, provider?.countTokens && ((text: string) => provider.countTokens!(model, text)));
  };

  const callerOf = (ctx: HandlerContext) => ({
    tenant: ctx.values.get(tenantKey),
    keyId: ctx.requestHeader.get("x-flowforge-key-id") ?? "",
  });

  async function record(ctx: HandlerContext, d: ModelAlias, model: string, tokens: TokenUsage) {
    const costUsd = costOf(config.prices, model, tokens);
    await usage.record({ ...callerOf(ctx), provider: d.provider, model, usage: tokens, costUsd });
    return costUsd;
  }

  /** The request's cache key: the tenant and every field of the request. */
  const cacheKey = (tenant: string, req: ChatRequest) =>
    createHash("sha256")
      .update(tenant)
      .update("\0")
      .update(toBinary(ChatRequestSchema, create(ChatRequestSchema, { ...req, noCache: false })))
      .digest("base64url");

  /** A chat's events: deltas as they come (held per attempt when `buffered`), then the whole answer. */
  async function* chat(
    req: ChatRequest,
    ctx: HandlerContext,
    buffered: boolean,
  ): AsyncGenerator<StreamChatResponse["event"]> {
    const checked = await checkChat(req, ctx, options.blobs);
    const alias = req.model || "default";
    const first = router.candidates(alias, checked.needs)[0];
    const promptTokens = await countChat(tokenizerOf(first), checked.input);
    const needs = { ...checked.needs, tokens: promptTokens + (req.maxTokens ?? 0) };
    router.candidates(alias, needs); // the window check, before the budget is read
    const { tenant } = callerOf(ctx);
    await checkBudget(usage, config.budgets, tenant);

    const key = cache && !req.noCache && req.temperature === 0 ? cacheKey(tenant, req) : undefined;
    if (key) {
      const hit = await cache!.get(key);
      if (hit) {
        const answer = fromBinary(ChatResponseSchema, hit);
        answer.cached = true;
        answer.usage = create(UsageSchema, usageOf({ prompt: 0, completion: 0, cached: 0 }, 0));
        if (answer.message?.content)
          yield { case: "delta", value: create(ChatDeltaSchema, { content: answer.message.content }) };
        yield { case: "done", value: answer };
        return;
      }
    }

    const attempt: Attempt<Checked> = (d, provider, signal) => checkedAttempt(d, provider, signal, checked);
    const report = progressOf(ctx);
    for await (const { deployment, event } of router.route(alias, needs, attempt, { signal: ctx.signal, buffered })) {
      if (event.type === "text") {
        report.add(event.text);
        yield { case: "delta", value: create(ChatDeltaSchema, { content: event.text }) };
        continue;
      }
      if (event.type === "tool") {
        const toolCall = { id: event.id ?? "", name: event.name ?? "", arguments: event.arguments ?? "" };
        yield { case: "delta", value: create(ChatDeltaSchema, { toolCallIndex: event.index, toolCall }) };
        continue;
      }
      if (event.type !== "answer") continue;
      report.flush();
      const tokens = event.finish.usage;
      const costUsd = await record(ctx, deployment, deployment.model, tokens);
      const init: ChatResponseInit = {
        message: {
          role: Role.ASSISTANT,
          content: event.answer.text,
          toolCalls: event.answer.toolCalls,
        },
        finishReason: event.finish.finishReason,
        usage: usageOf(tokens, costUsd),
        model: alias,
        provider: deployment.provider,
        providerModel: deployment.model,
        ...(event.json !== undefined && { json: fromJson(ValueSchema, event.json as JsonValue) }),
      };
      const answer = create(ChatResponseSchema, init);
      if (key) await cache!.set(key, toBinary(ChatResponseSchema, answer));
      yield { case: "done", value: answer };
    }
  }

  /** One attempt: the provider's events, the answer gathered and checked before "answer" ends it. */
  async function* checkedAttempt(
    d: ModelAlias,
    provider: Provider,
    signal: AbortSignal,
    checked: CheckedChat,
  ): AsyncGenerator<Checked> {
    const answer: Answer = { text: "", toolCalls: [] };
    for await (const e of provider.chat({ ...checked.input, model: d.model }, signal)) {
      if (e.type === "text") answer.text += e.text;
      else if (e.type === "tool") {
        answer.toolCalls[e.index] ??= { id: "", name: "", arguments: "" };
        const call = answer.toolCalls[e.index];
        if (e.id) call.id = e.id;
        if (e.name) call.name = e.name;
        if (e.arguments) call.arguments += e.arguments;
      } else {
        answer.toolCalls = answer.toolCalls.filter(Boolean).map((c, i) => ({ ...c, id: c.id || `call_${i}` }));
        const json = checkAnswer(answer, checked, d.provider);
        yield { type: "answer", answer, json, finish: e };
        return;
      }
      yield e;
    }
  }

  const impl: ServiceImpl<typeof LlmService> = {
    async chat(req, ctx) {
      let done: ChatResponse | undefined;
      for await (const event of chat(req, ctx, true)) if (event.case === "done") done = event.value;
      if (!done) throw new ConnectError("the model gave no answer", Code.Unavailable);
      return done;
    },

    async *streamChat(req, ctx) {
      for await (const event of chat(req, ctx, false)) yield { event };
    },

    async embed(req, ctx) {
      check(req.texts.length > 0, "texts", "is required: at least one text");
      check(req.texts.length <= maxEmbedTexts, "texts", `at most ${maxEmbedTexts} a call`);
      for (const [i, t] of req.texts.entries()) check(t.length > 0, `texts[${i}]`, "must not be empty");
      check(req.dimensions >= 0, "dimensions", "must not be negative");
      const alias = req.model || "default";
      router.candidates(alias, { embeddings: true });
      await checkBudget(usage, config.budgets, callerOf(ctx).tenant);
      const vectors: number[][] = [];
      let promptTokens = 0;
      let used: ModelAlias | undefined;
      for (let start = 0; start < req.texts.length; start += embedBatch) {
        const texts = req.texts.slice(start, start + embedBatch);
        const attempt: Attempt<{ vectors: number[][]; promptTokens: number }> = async function* (d, provider, signal) {
          yield await provider.embed(
            { model: d.embeddingModel!, texts, dimensions: req.dimensions || undefined },
            signal,
          );
        };
        for await (const { deployment, event } of router.route(alias, { embeddings: true }, attempt, {
          signal: ctx.signal,
          buffered: true,
        })) {
          used = deployment;
          vectors.push(...event.vectors);
          promptTokens += event.promptTokens;
        }
      }
      const tokens = { prompt: promptTokens, completion: 0, cached: 0 };
      const costUsd = await record(ctx, used!, used!.embeddingModel!, tokens);
      return {
        embeddings: vectors.map((values) => ({ values })),
        dimensions: vectors[0]?.length ?? 0,
        usage: usageOf(tokens, costUsd),
        model: alias,
        provider: used!.provider,
        providerModel: used!.embeddingModel!,
      };
    },

    async countTokens(req, ctx) {
      const alias = req.model || req.chat?.model || "default";
      check(req.text !== "" || req.chat !== undefined, "text", "is required: a text (or chat)");
      const d = router.candidates(alias, {})[0];
      const tokenizer = tokenizerOf(d);
      const tokens = req.chat
        ? await countChat(tokenizer, (await checkChat(req.chat, ctx, options.blobs)).input)
        : await tokenizer.count(req.text);
      return { tokens, contextWindow: d.contextWindow, tokenizer: tokenizer.name, exact: tokenizer.exact };
    },

    async listModels() {
      const models = [...config.aliases.values()]
        .sort((a, b) => (a.alias === "default" ? -1 : b.alias === "default" ? 1 : a.alias.localeCompare(b.alias)))
        .map((a) => ({
          alias: a.alias,
          provider: a.provider,
          providerModel: a.model || a.embeddingModel || "",
          fallbacks: a.fallbacks,
          contextWindow: a.contextWindow,
          chat: a.chat,
          tools: a.tools,
          jsonSchema: a.jsonSchema,
          vision: a.vision,
          embeddings: a.embeddings,
          promptPrice: config.prices[a.model]?.prompt ?? 0,
          completionPrice: config.prices[a.model]?.completion ?? 0,
        }));
      return { models };
    },
  };

  return {
    impl,
    usage,
    async close() {
      await cache?.close();
      await Promise.all([...providers.values()].map((p) => p.close?.()));
    },
  };
}

function usageOf(tokens: TokenUsage, costUsd: number) {
  return {
    promptTokens: tokens.prompt,
    completionTokens: tokens.completion,
    cachedTokens: tokens.cached,
    totalTokens: tokens.prompt + tokens.completion,
    costUsd,
  };
}

/** A job's progress: the text written since the last report, at most every progressEveryMs. */
function progressOf(ctx: HandlerContext) {
  const progress = ctx.values.get(progressKey);
  let pending = "";
  let last = 0;
  const flush = () => {
    if (pending) progress({ message: pending });
    pending = "";
    last = Date.now();
  };
  return {
    add(text: string) {
      pending += text;
      if (Date.now() - last >= progressEveryMs) flush();
    },
    flush,
  };
}
