/** OpenAI's tiktoken encodings (js-tiktoken), each loaded once when first used: the LLM service counts with them, the vector service chunks by them. */
import { Tiktoken } from "js-tiktoken/lite";

/** The encodings there are. */
export type EncodingName = "o200k_base" | "cl100k_base";

const encodings = new Map<EncodingName, Promise<Tiktoken>>();

/** An encoding (each rank table is a few MB, loaded on first use). */
export function encoding(name: EncodingName): Promise<Tiktoken> {
  let e = encodings.get(name);
  if (!e) {
    e = (name === "o200k_base" ? import("js-tiktoken/ranks/o200k_base") : import("js-tiktoken/ranks/cl100k_base")).then(
      (m) => new Tiktoken(m.default),
    );
    encodings.set(name, e);
  }
  return e;
}
