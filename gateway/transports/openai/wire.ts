/**
 * OpenAI's wire format and LlmService's messages, both ways: a chat.completions request as a
 * ChatRequest, a ChatResponse as a chat.completion (or its stream as chat.completion.chunks), an
 * embeddings request and answer, the model list, and errors as OpenAI's error envelope.
 */
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import {
  type ChatDelta,
  type ChatRequest,
  ChatRequestSchema,
  type ChatResponse,
  type ContentPartSchema,
  type EmbedRequest,
  EmbedRequestSchema,
  type EmbedResponse,
  FinishReason,
  type ListModelsResponse,
  Role,
} from "#gen/flowforge/llm/v1/llm_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";

type Json = Record<string, unknown>;

const roles: Record<string, Role> = {
  system: Role.SYSTEM,
  developer: Role.SYSTEM,
  user: Role.USER,
  assistant: Role.ASSISTANT,
  tool: Role.TOOL,
};

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** An image given as a `data:` URL, as bytes; other URLs are refused (the gateway fetches nothing). */
function imageOf(url: unknown, field: string): Uint8Array {
  check(typeof url === "string", field, "must be a data: URL");
  const m = /^data:image\/[\w.+-]+;base64,(.*)$/s.exec(url as string);
  check(m !== null, field, "must be a data:image/...;base64 URL: the gateway fetches no URL");
  return Buffer.from(m![1], "base64");
}

/** A chat.completions request body as a ChatRequest, and whether it asks for a stream (with usage). */
export function chatRequestOf(body: unknown): { request: ChatRequest; stream: boolean; includeUsage: boolean } {
  check(isObject(body), "body", 'must be a JSON object: {"model": ..., "messages": [...]}');
  const b = body as Json;
  check(b.n === undefined || b.n === 1, "n", "only 1 choice is answered");
  check(Array.isArray(b.messages), "messages", "is required: a list of messages");
  const messages = (b.messages as unknown[]).map((m, i) => {
    const at = `messages[${i}]`;
    check(isObject(m), at, "must be an object");
    const msg = m as Json;
    const role = roles[String(msg.role)];
    check(role !== undefined, `${at}.role`, "must be system, developer, user, assistant or tool");
    let content = "";
    const parts: MessageInitShape<typeof ContentPartSchema>[] = [];
    if (typeof msg.content === "string") content = msg.content;
    else if (Array.isArray(msg.content))
      msg.content.forEach((p, j) => {
        const field = `${at}.content[${j}]`;
        check(isObject(p), field, "must be an object");
        const part = p as Json;
        if (part.type === "text") parts.push({ part: { case: "text", value: String(part.text ?? "") } });
        else if (part.type === "image_url") {
          const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
          parts.push({
            part: { case: "image", value: { source: { case: "data", value: imageOf(url, `${field}.image_url`) } } },
          });
        } else throw invalidArgument(`${field}.type`, "must be text or image_url");
      });
    else check(msg.content === undefined || msg.content === null, `${at}.content`, "must be a text or a list of parts");
    const toolCalls = Array.isArray(msg.tool_calls)
      ? msg.tool_calls.map((c, j) => {
          const call = c as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
          check(isObject(call.function), `${at}.tool_calls[${j}].function`, "is required");
          return {
            id: String(call.id ?? ""),
            name: String(call.function!.name ?? ""),
            arguments: String(call.function!.arguments ?? ""),
          };
        })
      : [];
    return { role, content, parts, toolCalls, toolCallId: String(msg.tool_call_id ?? "") };
  });
  const tools = Array.isArray(b.tools)
    ? b.tools.map((t, i) => {
        const fn = (t as { function?: Json }).function;
        check(isObject(fn), `tools[${i}].function`, "is required: {name, description, parameters}");
        return {
          name: String(fn!.name ?? ""),
          description: String(fn!.description ?? ""),
          ...(isObject(fn!.parameters) && { parameters: fn!.parameters as JsonObject }),
        };
      })
    : [];
  let toolChoice = "";
  if (typeof b.tool_choice === "string") toolChoice = b.tool_choice;
  else if (isObject(b.tool_choice)) toolChoice = String((b.tool_choice.function as Json | undefined)?.name ?? "");
  let jsonOutput: { name?: string; schema: JsonObject } | undefined;
  const format = b.response_format as { type?: string; json_schema?: { name?: string; schema?: unknown } } | undefined;
  if (format?.type === "json_schema") {
    check(isObject(format.json_schema?.schema), "response_format.json_schema.schema", "is required: a JSON Schema");
    jsonOutput = { name: format.json_schema!.name, schema: format.json_schema!.schema as JsonObject };
  } else if (format?.type === "json_object") jsonOutput = { schema: { type: "object" } };
  else
    check(
      format === undefined || format.type === "text",
      "response_format.type",
      "must be text, json_object or json_schema",
    );
  const maxTokens = b.max_completion_tokens ?? b.max_tokens;
  const number = (v: unknown, field: string) => {
    if (v === undefined || v === null) return undefined;
    check(typeof v === "number" && Number.isFinite(v), field, "must be a number");
    return v as number;
  };
  const integer = (v: unknown, field: string) => {
    const n = number(v, field);
    check(n === undefined || Number.isInteger(n), field, "must be a whole number");
    return n;
  };
  const seed = integer(b.seed, "seed");
  const init: Exclude<MessageInitShape<typeof ChatRequestSchema>, ChatRequest> = {
    model: typeof b.model === "string" ? b.model : "",
    messages,
    temperature: number(b.temperature, "temperature"),
    topP: number(b.top_p, "top_p"),
    maxTokens: integer(maxTokens, b.max_completion_tokens === undefined ? "max_tokens" : "max_completion_tokens"),
    stop: typeof b.stop === "string" ? [b.stop] : Array.isArray(b.stop) ? b.stop.map(String) : [],
    seed: seed === undefined ? undefined : BigInt(seed),
    tools,
    toolChoice,
    jsonOutput,
  };
  return {
    request: create(ChatRequestSchema, init),
    stream: b.stream === true,
    includeUsage: (b.stream_options as Json | undefined)?.include_usage === true,
  };
}

const finishReasons: Record<FinishReason, string | null> = {
  [FinishReason.UNSPECIFIED]: null,
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.TOOL_CALLS]: "tool_calls",
  [FinishReason.CONTENT_FILTER]: "content_filter",
};

const usageOf = (r: ChatResponse | EmbedResponse) => ({
  prompt_tokens: r.usage?.promptTokens ?? 0,
  completion_tokens: r.usage?.completionTokens ?? 0,
  total_tokens: r.usage?.totalTokens ?? 0,
  prompt_tokens_details: { cached_tokens: r.usage?.cachedTokens ?? 0 },
});

/** A ChatResponse as a chat.completion. */
export function completionOf(r: ChatResponse, id: string, created: number) {
  const calls = r.message?.toolCalls ?? [];
  return {
    id,
    object: "chat.completion",
    created,
    model: r.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: calls.length > 0 && !r.message?.content ? null : (r.message?.content ?? ""),
          ...(calls.length > 0 && {
            tool_calls: calls.map((c) => ({
              id: c.id,
              type: "function",
              function: { name: c.name, arguments: c.arguments },
            })),
          }),
          refusal: null,
        },
        logprobs: null,
        finish_reason: finishReasons[r.finishReason],
      },
    ],
    usage: usageOf(r),
    system_fingerprint: null,
  };
}

/** Chunks of a streamed chat.completion. */
export function chunker(id: string, created: number, model: string) {
  const base = { id, object: "chat.completion.chunk", created, model, system_fingerprint: null };
  const choice = (delta: Json, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  return {
    first: () => choice({ role: "assistant", content: "" }),
    delta(d: ChatDelta) {
      if (d.toolCall)
        return choice({
          tool_calls: [
            {
              index: d.toolCallIndex,
              ...(d.toolCall.id && { id: d.toolCall.id, type: "function" }),
              function: { ...(d.toolCall.name && { name: d.toolCall.name }), arguments: d.toolCall.arguments },
            },
          ],
        });
      return choice({ content: d.content });
    },
    finish: (r: ChatResponse) => choice({}, finishReasons[r.finishReason]),
    usage: (r: ChatResponse) => ({ ...base, choices: [], usage: usageOf(r) }),
  };
}

/** An embeddings request body as an EmbedRequest, and the encoding the answer is wanted in. */
export function embedRequestOf(body: unknown): { request: EmbedRequest; base64: boolean } {
  check(isObject(body), "body", 'must be a JSON object: {"model": ..., "input": ...}');
  const b = body as Json;
  const input = typeof b.input === "string" ? [b.input] : b.input;
  check(
    Array.isArray(input) && input.every((t) => typeof t === "string"),
    "input",
    "must be a text or a list of texts",
  );
  const format = b.encoding_format ?? "float";
  check(format === "float" || format === "base64", "encoding_format", "must be float or base64");
  const dimensions = b.dimensions ?? 0;
  check(Number.isInteger(dimensions), "dimensions", "must be a whole number");
  return {
    request: create(EmbedRequestSchema, {
      model: typeof b.model === "string" ? b.model : "",
      texts: input as string[],
      dimensions: dimensions as number,
    }),
    base64: format === "base64",
  };
}

/** An EmbedResponse as OpenAI's embeddings list (floats, or base64 of little-endian float32). */
export function embeddingsOf(r: EmbedResponse, base64: boolean) {
  return {
    object: "list",
    data: r.embeddings.map((e, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? Buffer.from(new Float32Array(e.values).buffer).toString("base64") : e.values,
    })),
    model: r.model,
    usage: { prompt_tokens: r.usage?.promptTokens ?? 0, total_tokens: r.usage?.totalTokens ?? 0 },
  };
}

/** The model list. */
export function modelsOf(r: ListModelsResponse) {
  return { object: "list", data: r.models.map((m) => modelOf(m)) };
}

export function modelOf(m: ListModelsResponse["models"][number]) {
  return { id: m.alias, object: "model", created: 0, owned_by: m.provider };
}

const errorTypes: Partial<Record<Code, string>> = {
  [Code.InvalidArgument]: "invalid_request_error",
  [Code.FailedPrecondition]: "invalid_request_error",
  [Code.NotFound]: "invalid_request_error",
  [Code.Unauthenticated]: "authentication_error",
  [Code.PermissionDenied]: "permission_error",
  [Code.ResourceExhausted]: "rate_limit_error",
};

/** An error as OpenAI's envelope and HTTP status: `param` names the field, the request id is kept. */
export function errorOf(err: ConnectError, requestId: string) {
  const param = err.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field ?? null;
  const budget = err.code === Code.ResourceExhausted && /budget/.test(err.rawMessage);
  return {
    status: codeToHttpStatus(err.code),
    body: {
      error: {
        message: err.rawMessage,
        type:
          errorTypes[err.code] ??
          (err.code === Code.Unavailable || err.code === Code.DeadlineExceeded ? "api_error" : "server_error"),
        param,
        code: budget
          ? "insufficient_quota"
          : Code[err.code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase()),
        request_id: requestId,
      },
    },
  };
}
