/**
 * Counting tokens before a call: exact for OpenAI's models (their tiktoken encodings, js-tiktoken)
 * and for local GGUF models (their own tokenizer), an estimate with a similar encoding for the
 * rest. The router uses the count to skip a deployment whose context window is too small.
 */
import { encoding } from "#runtime/tokenizer.js";
import type { ChatInput } from "./providers/provider.js";

/** A tokenizer for a model. */
export interface Tokenizer {
  /** "o200k_base", "cl100k_base" or "model" (the model's own). */
  name: string;
  /** Exact for the model, or an estimate. */
  exact: boolean;
  count(text: string): Promise<number>;
}

/** Loads the encodings now, so the first call does not wait for their rank tables. */
export async function loadEncodings(): Promise<void> {
  await Promise.all([encoding("o200k_base"), encoding("cl100k_base")]);
}

/** Texts longer than this are estimated (4 characters a token) rather than encoded: they only need to be known too long. */
const longestCounted = 2_000_000;
/** Encoded in pieces of about this many characters, split at white space (BPE is slow on long runs). */
const piece = 20_000;

/** Counts with a tiktoken encoding. */
async function countWith(name: "o200k_base" | "cl100k_base", text: string): Promise<number> {
  if (text.length > longestCounted) return Math.ceil(text.length / 4);
  const enc = await encoding(name);
  let total = 0;
  for (let start = 0; start < text.length; ) {
    let end = Math.min(text.length, start + piece);
    if (end < text.length) {
      const space = text.lastIndexOf(" ", end);
      if (space > start + piece / 2) end = space;
    }
    total += enc.encode(text.slice(start, end), "all").length;
    start = end;
  }
  return total;
}

/** The tiktoken encoding an OpenAI model uses, if it is one. */
function openAiEncoding(model: string): "o200k_base" | "cl100k_base" | undefined {
  const m = model.replace(/^openai\//, "");
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)/.test(m)) return "o200k_base";
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return "cl100k_base";
  return undefined;
}

/** The tokenizer for a provider's model: `exact` a provider's own count where it has one. */
export function tokenizerFor(model: string, own?: (text: string) => Promise<number>): Tokenizer {
  if (own) return { name: "model", exact: true, count: own };
  const known = openAiEncoding(model);
  const name = known ?? "o200k_base";
  return { name, exact: known !== undefined, count: (text) => countWith(name, text) };
}

/** Tokens an image is counted as (OpenAI's high-detail 1024 × 1024: 4 tiles of 170 and 85 more). */
export const imageTokens = 765;

/** Tokens a chat's prompt takes: its messages, their framing, tools and a JSON schema. */
export async function countChat(tokenizer: Tokenizer, input: Omit<ChatInput, "model">): Promise<number> {
  // Chat formats add a few tokens around each message and to prime the answer.
  let total = 3 + (input.system ? 4 + (await tokenizer.count(input.system)) : 0);
  for (const m of input.messages) {
    total += 4;
    for (const p of m.parts) total += "text" in p ? await tokenizer.count(p.text) : imageTokens;
    for (const c of m.toolCalls) total += 3 + (await tokenizer.count(c.name + c.arguments));
  }
  if (input.tools.length > 0) total += await tokenizer.count(JSON.stringify(input.tools));
  if (input.jsonSchema) total += await tokenizer.count(JSON.stringify(input.jsonSchema.schema));
  return total;
}
