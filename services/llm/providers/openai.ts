/** OpenAI-compatible servers (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio, OpenRouter) through the `openai` SDK. */
import OpenAI from "openai";
import type {
  ChatCompletionContentPart,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionToolChoiceOption,
} from "openai/resources/chat/completions";
import { FinishReason, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import {
  type ChatEvent,
  type ChatInput,
  type ChatMessage,
  type EmbedInput,
  fromSdkError,
  type Provider,
  ProviderError,
} from "./provider.js";

/** Options for createOpenAiProvider. */
export interface OpenAiProviderOptions {
  name: string;
  /** @default https://api.openai.com/v1 */
  baseUrl?: string;
  apiKey?: string;
}

const finishReasons: Record<string, FinishReason> = {
  stop: FinishReason.STOP,
  length: FinishReason.LENGTH,
  tool_calls: FinishReason.TOOL_CALLS,
  function_call: FinishReason.TOOL_CALLS,
  content_filter: FinishReason.CONTENT_FILTER,
};

/** A provider speaking OpenAI's Chat Completions and Embeddings. */
export function createOpenAiProvider(options: OpenAiProviderOptions): Provider {
  const name = options.name;
  // Retries, timeouts and fallbacks are the router's: the SDK makes one attempt.
  const client = new OpenAI({
    baseURL: options.baseUrl,
    apiKey: options.apiKey || "not-needed",
    maxRetries: 0,
    timeout: 24 * 3600_000,
  });

  async function* chat(input: ChatInput, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const body: ChatCompletionCreateParamsStreaming = {
      model: input.model,
      messages: messagesOf(input),
      stream: true,
      stream_options: { include_usage: true },
      ...(input.temperature !== undefined && { temperature: input.temperature }),
      ...(input.topP !== undefined && { top_p: input.topP }),
      ...(input.maxTokens !== undefined && { max_tokens: input.maxTokens }),
      ...(input.stop.length > 0 && { stop: input.stop }),
      ...(input.seed !== undefined && { seed: input.seed }),
      ...(input.tools.length > 0 && {
        tools: input.tools.map((t) => ({
          type: "function" as const,
          function: { name: t.name, description: t.description || undefined, parameters: t.parameters },
        })),
        tool_choice: toolChoiceOf(input.toolChoice),
      }),
      ...(input.jsonSchema && {
        response_format: {
          type: "json_schema" as const,
          json_schema: { name: input.jsonSchema.name, schema: input.jsonSchema.schema },
        },
      }),
    };
    let finish = FinishReason.UNSPECIFIED;
    let usage = { prompt: 0, completion: 0, cached: 0 };
    let finished = false;
    try {
      const stream = await client.chat.completions.create(body, { signal });
      for await (const chunk of stream) {
        if (chunk.usage) {
          usage = {
            prompt: chunk.usage.prompt_tokens ?? 0,
            completion: chunk.usage.completion_tokens ?? 0,
            cached: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0,
          };
        }
        if (!Array.isArray(chunk.choices)) throw new TypeError("a chunk without choices");
        const choice = chunk.choices[0];
        if (!choice) continue;
        const delta = choice.delta ?? {};
        if (delta.content) yield { type: "text", text: delta.content };
        for (const call of delta.tool_calls ?? [])
          yield {
            type: "tool",
            index: call.index ?? 0,
            id: call.id || undefined,
            name: call.function?.name || undefined,
            arguments: call.function?.arguments || undefined,
          };
        if (choice.finish_reason) {
          finish = finishReasons[choice.finish_reason] ?? FinishReason.STOP;
          finished = true;
        }
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw fromSdkError(name, err);
    }
    if (!finished)
      throw new ProviderError(name, "unavailable", `${name} ended the stream before the answer was finished`);
    yield { type: "done", finishReason: finish, usage };
  }

  async function embed(input: EmbedInput, signal: AbortSignal) {
    try {
      const answer = await client.embeddings.create(
        {
          model: input.model,
          input: input.texts,
          encoding_format: "float",
          ...(input.dimensions ? { dimensions: input.dimensions } : {}),
        },
        { signal },
      );
      if (!Array.isArray(answer.data) || answer.data.length !== input.texts.length)
        throw new ProviderError(
          name,
          "garbage",
          `${name} answered ${answer.data?.length ?? 0} vectors for ${input.texts.length} texts`,
        );
      const vectors = [...answer.data].sort((a, b) => a.index - b.index).map((d) => d.embedding as number[]);
      if (vectors.some((v) => !Array.isArray(v)))
        throw new ProviderError(name, "garbage", `${name} answered embeddings that are not lists of numbers`);
      return { vectors, promptTokens: answer.usage?.prompt_tokens ?? 0 };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw fromSdkError(name, err);
    }
  }

  return { name, chat, embed };
}

function toolChoiceOf(choice: string): ChatCompletionToolChoiceOption {
  if (choice === "" || choice === "auto" || choice === "none" || choice === "required")
    return (choice || "auto") as never;
  return { type: "function", function: { name: choice } };
}

/** Our messages as Chat Completions messages. */
function messagesOf(input: ChatInput): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = input.system ? [{ role: "system", content: input.system }] : [];
  for (const m of input.messages) out.push(messageOf(m));
  return out;
}

function textOf(m: ChatMessage): string {
  return m.parts.map((p) => ("text" in p ? p.text : "")).join("");
}

function messageOf(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case Role.SYSTEM:
      return { role: "system", content: textOf(m) };
    case Role.TOOL:
      return { role: "tool", tool_call_id: m.toolCallId, content: textOf(m) };
    case Role.ASSISTANT:
      return {
        role: "assistant",
        content: textOf(m) || null,
        ...(m.toolCalls.length > 0 && {
          tool_calls: m.toolCalls.map((c) => ({
            id: c.id,
            type: "function" as const,
            function: { name: c.name, arguments: c.arguments },
          })),
        }),
      };
    default: {
      if (m.parts.every((p) => "text" in p)) return { role: "user", content: textOf(m) };
      const content: ChatCompletionContentPart[] = m.parts.map((p) =>
        "text" in p
          ? { type: "text", text: p.text }
          : {
              type: "image_url",
              image_url: { url: `data:${p.image.mediaType};base64,${Buffer.from(p.image.data).toString("base64")}` },
            },
      );
      return { role: "user", content };
    }
  }
}
