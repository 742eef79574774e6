/**
 * A ChatRequest checked and turned into what providers receive: every field's rule, tool calls
 * and their results matched by id, images read (inline or from the blob store), the JSON Schema
 * compiled (ajv). And the model's answer checked against the request: tool calls name declared
 * tools with JSON arguments; JSON output parses and matches the schema.
 */
import type { HandlerContext } from "@connectrpc/connect";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { type ChatRequest, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import { type BlobReader, fileBytes } from "#blobs/index.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { type ChatInput, type ChatMessage, type JsonObject, type Part, ProviderError } from "./providers/provider.js";

/** Bounds a chat is held to. */
export const chatBounds = { messages: 10_000, tools: 128, stop: 4, images: 32 };
const toolName = /^[A-Za-z0-9_-]{1,64}$/;

/** A checked chat: the providers' input, and the validator of a JSON answer. */
export interface CheckedChat {
  input: Omit<ChatInput, "model">;
  validate?: ValidateFunction;
  /** What the chat needs of a model. */
  needs: { chat: true; tools: boolean; jsonSchema: boolean; vision: boolean };
}

let ajv: Ajv2020 | undefined; // made on the first schema: its meta-schemas are megabytes of heap

/** Checks a ChatRequest and reads its images. */
export async function checkChat(
  req: ChatRequest,
  ctx: HandlerContext,
  blobs: BlobReader | undefined,
): Promise<CheckedChat> {
  check(req.messages.length > 0, "messages", "is required: at least one message");
  check(req.messages.length <= chatBounds.messages, "messages", `at most ${chatBounds.messages}`);
  if (req.temperature !== undefined)
    check(req.temperature >= 0 && req.temperature <= 2, "temperature", "must be from 0 to 2");
  if (req.topP !== undefined) check(req.topP > 0 && req.topP <= 1, "top_p", "must be above 0 and at most 1");
  if (req.maxTokens !== undefined) check(req.maxTokens > 0, "max_tokens", "must be at least 1");
  check(req.stop.length <= chatBounds.stop, "stop", `at most ${chatBounds.stop} texts`);
  for (const [i, s] of req.stop.entries()) check(s.length > 0, `stop[${i}]`, "must not be empty");
  check(req.tools.length <= chatBounds.tools, "tools", `at most ${chatBounds.tools}`);
  const declared = new Set<string>();
  const tools = req.tools.map((t, i) => {
    check(toolName.test(t.name), `tools[${i}].name`, 'must be 1 to 64 letters, digits, "_" or "-"');
    check(!declared.has(t.name), `tools[${i}].name`, `"${t.name}" is declared twice`);
    declared.add(t.name);
    const parameters: JsonObject = t.parameters ?? { type: "object" };
    compile(parameters, `tools[${i}].parameters`);
    return { name: t.name, description: t.description, parameters };
  });
  const choice = req.toolChoice;
  if (choice !== "" && !["auto", "none", "required"].includes(choice))
    check(
      declared.has(choice),
      "tool_choice",
      `must be auto, none, required or a declared tool's name, not "${choice}"`,
    );
  check(choice === "" || tools.length > 0, "tool_choice", "needs tools");

  let validate: ValidateFunction | undefined;
  let jsonSchema: ChatInput["jsonSchema"];
  if (req.jsonOutput) {
    const name = req.jsonOutput.name || "output";
    check(toolName.test(name), "json_output.name", 'must be 1 to 64 letters, digits, "_" or "-"');
    check(req.jsonOutput.schema !== undefined, "json_output.schema", "is required: a JSON Schema");
    const schema: JsonObject = req.jsonOutput.schema!;
    validate = compile(schema, "json_output.schema");
    jsonSchema = { name, schema };
  }

  // Tool results answer calls made earlier in the conversation.
  const calls = new Set<string>();
  let images = 0;
  const messages: ChatMessage[] = [];
  for (const [i, m] of req.messages.entries()) {
    const at = `messages[${i}]`;
    check(
      m.role !== Role.UNSPECIFIED,
      `${at}.role`,
      "is required: ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL",
    );
    check(m.role in Role, `${at}.role`, `is not a role (${m.role})`);
    const parts: Part[] = m.content ? [{ text: m.content }] : [];
    for (const [j, p] of m.parts.entries()) {
      const field = `${at}.parts[${j}]`;
      if (p.part.case === "text") parts.push({ text: p.part.value });
      else if (p.part.case === "image") {
        check(m.role === Role.USER, `${field}.image`, "images go in user messages");
        check(++images <= chatBounds.images, `${field}.image`, `at most ${chatBounds.images} images a chat`);
        const data = await fileBytes(p.part.value.source, `${field}.image`, ctx, blobs);
        parts.push({ image: { data, mediaType: imageType(data, `${field}.image`) } });
      } else throw invalidArgument(field, "is empty: give text or image");
    }
    check(
      parts.length > 0 || m.toolCalls.length > 0,
      `${at}.content`,
      "is required: text, parts or (from the assistant) tool calls",
    );
    for (const [j, c] of m.toolCalls.entries()) {
      const field = `${at}.tool_calls[${j}]`;
      check(m.role === Role.ASSISTANT, field, "only assistant messages make tool calls");
      check(c.id !== "", `${field}.id`, "is required");
      check(toolName.test(c.name), `${field}.name`, "must be a tool's name");
      check(isJsonObject(c.arguments || "{}"), `${field}.arguments`, "must be a JSON object as text");
      calls.add(c.id);
    }
    if (m.role === Role.TOOL) {
      check(m.toolCallId !== "", `${at}.tool_call_id`, "is required: the id of the call it answers");
      check(calls.has(m.toolCallId), `${at}.tool_call_id`, `"${m.toolCallId}" answers no earlier tool call`);
    }
    messages.push({
      role: m.role,
      parts,
      toolCalls: m.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments || "{}" })),
      toolCallId: m.toolCallId,
    });
  }
  return {
    input: {
      system: req.system,
      messages,
      temperature: req.temperature,
      topP: req.topP,
      maxTokens: req.maxTokens,
      stop: req.stop,
      seed: req.seed === undefined ? undefined : Number(req.seed),
      tools,
      toolChoice: tools.length > 0 ? choice || "auto" : "",
      jsonSchema,
    },
    validate,
    needs: { chat: true, tools: tools.length > 0, jsonSchema: jsonSchema !== undefined, vision: images > 0 },
  };
}

/** Compiles a JSON Schema, naming the field when it is not one. */
function compile(schema: JsonObject, field: string): ValidateFunction {
  try {
    ajv ??= new Ajv2020({ allErrors: false, strict: false, validateFormats: false });
    return ajv.compile(schema);
  } catch (err) {
    throw invalidArgument(field, `is not a valid JSON Schema: ${(err as Error).message}`, err);
  }
}

function isJsonObject(text: string): boolean {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** An image's media type from its first bytes; refuses what no provider takes. */
function imageType(data: Uint8Array, field: string): string {
  const b = data;
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "image/png";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46) return "image/gif";
  if (
    Buffer.from(b.subarray(0, 4)).toString("latin1") === "RIFF" &&
    Buffer.from(b.subarray(8, 12)).toString("latin1") === "WEBP"
  )
    return "image/webp";
  throw invalidArgument(field, "must be a PNG, JPEG, GIF or WebP image");
}

/** The answer as the model wrote it, before it is checked. */
export interface Answer {
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
}

/**
 * Checks the model's answer against the request; a failure is the provider's (retryable: a new
 * sample may be right) and names what was wrong. Returns the parsed JSON with json_output.
 */
export function checkAnswer(answer: Answer, chat: CheckedChat, provider: string): unknown {
  const declared = new Set(chat.input.tools.map((t) => t.name));
  for (const c of answer.toolCalls) {
    if (!declared.has(c.name))
      throw new ProviderError(provider, "garbage", `the model called tool "${c.name}", which tools does not declare`);
    if (!isJsonObject(c.arguments || "{}"))
      throw new ProviderError(
        provider,
        "garbage",
        `the model called tool "${c.name}" with arguments that are not a JSON object`,
      );
  }
  if (!chat.validate || answer.toolCalls.length > 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    throw new ProviderError(provider, "garbage", "the model's answer is not JSON, though json_output asks for it");
  }
  if (!chat.validate(parsed)) {
    const e = chat.validate.errors?.[0];
    throw new ProviderError(
      provider,
      "garbage",
      `the model's JSON does not match json_output.schema: ${e ? `${e.instancePath || "/"} ${e.message}` : "invalid"}`,
    );
  }
  return parsed;
}
