/**
 * What every provider (OpenAI-compatible, Anthropic, local GGUF) answers, in one shape: a chat as
 * a stream of events, embeddings as vectors, and failures as ProviderErrors that say whether
 * trying again (or elsewhere) may help.
 */
import type { FinishReason, Role } from "#gen/flowforge/llm/v1/llm_pb.js";

/** A JSON object (a schema, a tool's parameters). */
export type JsonObject = { [key: string]: unknown };

/** A message part, its image read into bytes. */
export type Part = { text: string } | { image: { data: Uint8Array; mediaType: string } };

/** One turn of the conversation as providers receive it. */
export interface ChatMessage {
  role: Role;
  parts: Part[];
  toolCalls: { id: string; name: string; arguments: string }[];
  toolCallId: string;
}

/** A chat as providers receive it: checked, images resolved, the alias resolved to a model. */
export interface ChatInput {
  /** The provider's model. */
  model: string;
  system: string;
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stop: string[];
  seed?: number;
  tools: { name: string; description: string; parameters: JsonObject }[];
  /** "auto", "none", "required" or a tool's name; "" when no tools. */
  toolChoice: string;
  jsonSchema?: { name: string; schema: JsonObject };
}

/** Tokens a call took. */
export interface TokenUsage {
  prompt: number;
  completion: number;
  cached: number;
}

/** One event of a provider's answer. */
export type ChatEvent =
  | { type: "text"; text: string }
  | { type: "tool"; index: number; id?: string; name?: string; arguments?: string }
  | { type: "done"; finishReason: FinishReason; usage: TokenUsage };

/** Texts to embed. */
export interface EmbedInput {
  model: string;
  texts: string[];
  dimensions?: number;
}

/** A provider of models. */
export interface Provider {
  readonly name: string;
  /** The answer as it is written; ends with one "done" event. Aborting `signal` cancels the provider's work. */
  chat(input: ChatInput, signal: AbortSignal): AsyncIterable<ChatEvent>;
  embed(input: EmbedInput, signal: AbortSignal): Promise<{ vectors: number[][]; promptTokens: number }>;
  /** Exact token count, where the provider can tell without a network call. */
  countTokens?(model: string, text: string): Promise<number>;
  close?(): Promise<void>;
}

/** Why a provider failed. */
export type ProviderFailure =
  /** 429: too many requests (Retry-After may say how long to wait). */
  | "rate-limited"
  /** 5xx, or a connection that failed or dropped. */
  | "unavailable"
  /** No answer (or no next token) within the timeout. */
  | "timeout"
  /** An answer that is not the provider's protocol. */
  | "garbage"
  /** 4xx other than 429: the request is wrong for this provider (not worth repeating). */
  | "refused"
  /** The provider cannot do this (no embeddings, no images). */
  | "unsupported";

/** A provider's failure. `retryable` failures are tried again, then elsewhere; the others are final. */
export class ProviderError extends Error {
  override name = "ProviderError";
  constructor(
    readonly provider: string,
    readonly failure: ProviderFailure,
    message: string,
    readonly details: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause });
  }

  /** Worth trying again or at a fallback. */
  get retryable(): boolean {
    return this.failure !== "refused" && this.failure !== "unsupported";
  }
}

/** A Retry-After (seconds or an HTTP date) or retry-after-ms header, in milliseconds. */
export function retryAfterOf(headers: Headers | undefined): number | undefined {
  const ms = headers?.get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = headers?.get("retry-after");
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * An official SDK's error (openai and @anthropic-ai/sdk share the shape: APIError with status and
 * headers, APIConnectionError, APIConnectionTimeoutError) as a ProviderError.
 */
export function fromSdkError(provider: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as { status?: number; headers?: Headers; name?: string; message?: string; error?: unknown };
  const name = e?.constructor?.name ?? e?.name ?? "";
  if (typeof e?.status === "number") {
    const status = e.status;
    const said = providerMessage(e);
    if (status === 429)
      return new ProviderError(provider, "rate-limited", `${provider} is rate limiting (429)`, {
        status,
        retryAfterMs: retryAfterOf(e.headers),
        cause: err,
      });
    if (status >= 500 || status === 408 || status === 409)
      return new ProviderError(provider, "unavailable", `${provider} failed (${status})`, {
        status,
        retryAfterMs: retryAfterOf(e.headers),
        cause: err,
      });
    return new ProviderError(provider, "refused", `${provider} refused the request (${status}): ${said}`, {
      status,
      cause: err,
    });
  }
  if (/Timeout/.test(name))
    return new ProviderError(provider, "timeout", `${provider} did not answer in time`, { cause: err });
  if (/Connection/.test(name) || isConnectionError(err))
    return new ProviderError(provider, "unavailable", `${provider} is unreachable or dropped the connection`, {
      cause: err,
    });
  return new ProviderError(provider, "garbage", `${provider} answered something that is not its protocol`, {
    cause: err,
  });
}

/** The provider's own words on a refused request, short. */
function providerMessage(e: { message?: string; error?: unknown }): string {
  const inner = (e.error as { error?: { message?: unknown }; message?: unknown } | undefined) ?? {};
  const text = inner.error?.message ?? inner.message ?? e.message ?? "";
  return String(text).slice(0, 300);
}

function isConnectionError(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as never, i++) {
    if (
      typeof e.code === "string" &&
      /^(ECONNRESET|ECONNREFUSED|EPIPE|UND_ERR_SOCKET|ETIMEDOUT|ENOTFOUND)$/.test(e.code)
    )
      return true;
    if ((e as Error).message === "terminated") return true;
  }
  return false;
}
