/** Anthropic's Messages API through `@anthropic-ai/sdk`. JSON output is asked for as a forced tool call. */
import Anthropic from "@anthropic-ai/sdk";
import type {
  ContentBlockParam,
  MessageCreateParamsStreaming,
  MessageParam,
  ToolChoice,
} from "@anthropic-ai/sdk/resources/messages/messages";
import { FinishReason, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import {
  type ChatEvent,
  type ChatInput,
  type ChatMessage,
  fromSdkError,
  type Provider,
  ProviderError,
} from "./provider.js";

/** Options for createAnthropicProvider. */
export interface AnthropicProviderOptions {
  name: string;
  /** @default https://api.anthropic.com */
  baseUrl?: string;
  apiKey?: string;
}

/** Messages needs max_tokens; this is asked for when the caller sets none. */
export const anthropicDefaultMaxTokens = 4096;
/** The tool a JSON answer is asked for as. */
const jsonTool = "json_output";

const stopReasons: Record<string, FinishReason> = {
  end_turn: FinishReason.STOP,
  stop_sequence: FinishReason.STOP,
  pause_turn: FinishReason.STOP,
  max_tokens: FinishReason.LENGTH,
  model_context_window_exceeded: FinishReason.LENGTH,
  tool_use: FinishReason.TOOL_CALLS,
  refusal: FinishReason.CONTENT_FILTER,
};

/** A provider speaking Anthropic's Messages API. */
export function createAnthropicProvider(options: AnthropicProviderOptions): Provider {
  const name = options.name;
  const client = new Anthropic({
    baseURL: options.baseUrl,
    apiKey: options.apiKey || "not-needed",
    maxRetries: 0,
    timeout: 24 * 3600_000,
  });

  async function* chat(input: ChatInput, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const json = input.jsonSchema;
    const tools = json
      ? [{ name: jsonTool, description: "Answer with JSON matching this schema.", input_schema: json.schema as never }]
      : input.tools.map((t) => ({
          name: t.name,
          description: t.description || undefined,
          input_schema: t.parameters as never,
        }));
    const body: MessageCreateParamsStreaming = {
      model: input.model,
      max_tokens: input.maxTokens ?? anthropicDefaultMaxTokens,
      messages: messagesOf(input.messages),
      stream: true,
      ...(input.system && { system: input.system }),
      ...(input.temperature !== undefined && { temperature: input.temperature }),
      ...(input.topP !== undefined && { top_p: input.topP }),
      ...(input.stop.length > 0 && { stop_sequences: input.stop }),
      ...(tools.length > 0 && {
        tools,
        tool_choice: json ? { type: "tool", name: jsonTool } : toolChoiceOf(input.toolChoice),
      }),
    };
    const usage = { prompt: 0, completion: 0, cached: 0 };
    let finish = FinishReason.UNSPECIFIED;
    let stopped = false;
    /** Content blocks by index: which are tool calls, and their index among the tool calls. */
    const toolIndex = new Map<number, number>();
    try {
      const stream = await client.messages.create(body, { signal });
      for await (const event of stream) {
        switch (event.type) {
          case "message_start": {
            const u = event.message.usage;
            usage.cached = u.cache_read_input_tokens ?? 0;
            usage.prompt = u.input_tokens + usage.cached + (u.cache_creation_input_tokens ?? 0);
            usage.completion = u.output_tokens ?? 0;
            break;
          }
          case "content_block_start": {
            const block = event.content_block;
            if (block.type === "text" && block.text) yield { type: "text", text: block.text };
            if (block.type === "tool_use" && !json) {
              toolIndex.set(event.index, toolIndex.size);
              yield { type: "tool", index: toolIndex.get(event.index)!, id: block.id, name: block.name };
            }
            break;
          }
          case "content_block_delta": {
            const delta = event.delta;
            if (delta.type === "text_delta") yield { type: "text", text: delta.text };
            else if (delta.type === "input_json_delta") {
              if (json) yield { type: "text", text: delta.partial_json };
              else if (toolIndex.has(event.index))
                yield { type: "tool", index: toolIndex.get(event.index)!, arguments: delta.partial_json };
            }
            break;
          }
          case "message_delta":
            if (event.delta.stop_reason) finish = stopReasons[event.delta.stop_reason] ?? FinishReason.STOP;
            if (event.usage?.output_tokens !== undefined) usage.completion = event.usage.output_tokens;
            break;
          case "message_stop":
            stopped = true;
            break;
        }
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw fromSdkError(name, err);
    }
    if (!stopped)
      throw new ProviderError(name, "unavailable", `${name} ended the stream before the answer was finished`);
    // The forced JSON tool is the answer, not a call for the caller to run.
    if (json && finish === FinishReason.TOOL_CALLS) finish = FinishReason.STOP;
    yield { type: "done", finishReason: finish, usage };
  }

  async function embed(): Promise<never> {
    throw new ProviderError(name, "unsupported", `${name} (Anthropic) makes no embeddings`);
  }

  return { name, chat, embed };
}

function toolChoiceOf(choice: string): ToolChoice {
  if (choice === "" || choice === "auto") return { type: "auto" };
  if (choice === "none") return { type: "none" };
  if (choice === "required") return { type: "any" };
  return { type: "tool", name: choice };
}

/** Our messages as Anthropic's: tool results are user turns, and turns of one role are merged. */
function messagesOf(messages: ChatMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  for (const m of messages) {
    const role = m.role === Role.ASSISTANT ? "assistant" : "user";
    const blocks = blocksOf(m);
    const last = out.at(-1);
    if (last && last.role === role) (last.content as ContentBlockParam[]).push(...blocks);
    else out.push({ role, content: blocks });
  }
  return out;
}

function blocksOf(m: ChatMessage): ContentBlockParam[] {
  const text = m.parts.map((p) => ("text" in p ? p.text : "")).join("");
  if (m.role === Role.TOOL) return [{ type: "tool_result", tool_use_id: m.toolCallId, content: text }];
  const blocks: ContentBlockParam[] = m.parts.flatMap((p): ContentBlockParam[] => {
    if ("text" in p) return p.text ? [{ type: "text", text: p.text }] : [];
    return [
      {
        type: "image",
        source: {
          type: "base64",
          media_type: p.image.mediaType as "image/png",
          data: Buffer.from(p.image.data).toString("base64"),
        },
      },
    ];
  });
  for (const call of m.toolCalls) {
    let input: unknown;
    try {
      input = JSON.parse(call.arguments || "{}");
    } catch {
      input = {};
    }
    blocks.push({ type: "tool_use", id: call.id, name: call.name, input });
  }
  return blocks;
}
