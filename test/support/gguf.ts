/**
 * A tiny GGUF model written for the tests (no npm package ships one, and nothing may be
 * downloaded): GGUF v3, F32, `llama` architecture, one layer, 32-wide embeddings, 4 heads, a
 * SentencePiece vocabulary of byte tokens and a few pieces, and a Jinja chat template. Its
 * weights are random (seeded), so its text is gibberish; the mechanics it exercises are real.
 */
import { writeFile } from "node:fs/promises";
import { seeded } from "./random.js";

/** The model's shape. */
export const tinyModel = { embedding: 32, heads: 4, feedForward: 64, layers: 1, context: 2048 } as const;

enum T {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  STRING = 8,
  ARRAY = 9,
}

class Writer {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(n: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.push(b);
  }
  i32(n: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.push(b);
  }
  u64(n: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.push(b);
  }
  f32(n: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  pad(alignment: number) {
    const rest = this.length % alignment;
    if (rest) this.push(Buffer.alloc(alignment - rest));
  }
  bytes() {
    return Buffer.concat(this.parts);
  }
}

type Value =
  | { type: T.U32 | T.I32 | T.F32; value: number }
  | { type: T.STRING; value: string }
  | { type: T.ARRAY; of: T; values: (string | number)[] };

function writeValue(w: Writer, v: Value) {
  w.u32(v.type);
  if (v.type === T.STRING) w.str(v.value);
  else if (v.type === T.U32) w.u32(v.value);
  else if (v.type === T.I32) w.i32(v.value);
  else if (v.type === T.F32) w.f32(v.value);
  else {
    const a = v as Extract<Value, { type: T.ARRAY }>;
    w.u32(a.of);
    w.u64(a.values.length);
    for (const x of a.values) {
      if (a.of === T.STRING) w.str(x as string);
      else if (a.of === T.F32) w.f32(x as number);
      else w.i32(x as number);
    }
  }
}

/** The vocabulary: unknown, begin, end, 256 byte tokens, then pieces (▁ marks a word start). */
function vocabulary() {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let i = 0; i < 256; i++) {
    tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  const pieces = ["▁", "▁a", "▁the", "e", "t", "o", "{", "}", '"', ":", ",", "▁hi"];
  for (const p of pieces) {
    tokens.push(p);
    types.push(1);
  }
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -i));
  return { tokens, types, scores };
}

const chatTemplate =
  "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

/** Writes the tiny model to `path`; the same seed writes the same bytes. */
export async function writeTinyGguf(path: string, seed = 1): Promise<void> {
  const { embedding: n, heads, feedForward: ff, layers, context } = tinyModel;
  const vocab = vocabulary();
  const nv = vocab.tokens.length;
  const meta: [string, Value][] = [
    ["general.architecture", { type: T.STRING, value: "llama" }],
    ["general.name", { type: T.STRING, value: "flowforge-tiny-test" }],
    ["general.alignment", { type: T.U32, value: 32 }],
    ["general.file_type", { type: T.U32, value: 0 }],
    ["llama.context_length", { type: T.U32, value: context }],
    ["llama.embedding_length", { type: T.U32, value: n }],
    ["llama.block_count", { type: T.U32, value: layers }],
    ["llama.feed_forward_length", { type: T.U32, value: ff }],
    ["llama.attention.head_count", { type: T.U32, value: heads }],
    ["llama.attention.head_count_kv", { type: T.U32, value: heads }],
    ["llama.rope.dimension_count", { type: T.U32, value: n / heads }],
    ["llama.attention.layer_norm_rms_epsilon", { type: T.F32, value: 1e-5 }],
    ["tokenizer.ggml.model", { type: T.STRING, value: "llama" }],
    ["tokenizer.ggml.tokens", { type: T.ARRAY, of: T.STRING, values: vocab.tokens }],
    ["tokenizer.ggml.scores", { type: T.ARRAY, of: T.F32, values: vocab.scores }],
    ["tokenizer.ggml.token_type", { type: T.ARRAY, of: T.I32, values: vocab.types }],
    ["tokenizer.ggml.unknown_token_id", { type: T.U32, value: 0 }],
    ["tokenizer.ggml.bos_token_id", { type: T.U32, value: 1 }],
    ["tokenizer.ggml.eos_token_id", { type: T.U32, value: 2 }],
    ["tokenizer.chat_template", { type: T.STRING, value: chatTemplate }],
  ];
  // ggml order: the first dimension is the row length.
  const tensors: [string, number[]][] = [
    ["token_embd.weight", [n, nv]],
    ["output_norm.weight", [n]],
    ["output.weight", [n, nv]],
  ];
  for (let l = 0; l < layers; l++)
    tensors.push(
      [`blk.${l}.attn_norm.weight`, [n]],
      [`blk.${l}.attn_q.weight`, [n, n]],
      [`blk.${l}.attn_k.weight`, [n, n]],
      [`blk.${l}.attn_v.weight`, [n, n]],
      [`blk.${l}.attn_output.weight`, [n, n]],
      [`blk.${l}.ffn_norm.weight`, [n]],
      [`blk.${l}.ffn_gate.weight`, [n, ff]],
      [`blk.${l}.ffn_down.weight`, [ff, n]],
      [`blk.${l}.ffn_up.weight`, [n, ff]],
    );
  const w = new Writer();
  w.push(Buffer.from("GGUF"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(meta.length);
  for (const [key, value] of meta) {
    w.str(key);
    writeValue(w, value);
  }
  let offset = 0;
  const sizes = tensors.map(([, dims]) => dims.reduce((a, b) => a * b, 1) * 4);
  for (const [i, [name, dims]] of tensors.entries()) {
    w.str(name);
    w.u32(dims.length);
    for (const d of dims) w.u64(d);
    w.u32(0); // F32
    w.u64(offset);
    offset += Math.ceil(sizes[i] / 32) * 32;
  }
  w.pad(32);
  const next = seeded(seed);
  for (const [i, [name]] of tensors.entries()) {
    const values = new Float32Array(sizes[i] / 4);
    const norm = name.endsWith("norm.weight");
    for (let j = 0; j < values.length; j++) values[j] = norm ? 1 : (next() - 0.5) * 0.2;
    w.push(Buffer.from(values.buffer));
    w.pad(32);
  }
  await writeFile(path, w.bytes());
}
