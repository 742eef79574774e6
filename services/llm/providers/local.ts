/**
 * GGUF models run in-process by llama.cpp (node-llama-cpp's prebuilt CPU binary; nothing is built
 * or downloaded): chat through LlamaChatSession with the model's own chat template, JSON output
 * constrained by a grammar made from the schema, embeddings from an embedding context. A context
 * holds `sequences` sequences: that many answers are computed at once, the rest wait their turn.
 */
import { getLlama, type Llama, type LlamaContext, type LlamaEmbeddingContext, type LlamaModel } from "node-llama-cpp";
import type { ChatHistoryItem } from "node-llama-cpp";
import { FinishReason, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import type { LocalConfig } from "../config.js";
import { type ChatEvent, type ChatInput, type ChatMessage, type Provider, ProviderError } from "./provider.js";

/** Options for createLocalProvider. */
export interface LocalProviderOptions extends LocalConfig {
  name: string;
}

let engine: Promise<Llama> | undefined;
/** The one llama.cpp engine of the process: the prebuilt CPU binary, never a build or a download. */
function llama(): Promise<Llama> {
  engine ??= getLlama({ gpu: false, build: "never", logLevel: "error" as never, progressLogs: false } as never);
  return engine;
}

const textOf = (m: ChatMessage) => m.parts.map((p) => ("text" in p ? p.text : "")).join("");

/** Loads the configured GGUF files and answers with them. */
export async function createLocalProvider(options: LocalProviderOptions): Promise<Provider> {
  const name = options.name;
  const engine = await llama();
  const models = new Map<string, Promise<LlamaModel>>();
  const load = (path: string) => {
    let m = models.get(path);
    if (!m) {
      m = engine.loadModel({ modelPath: path, gpuLayers: 0 });
      models.set(path, m);
    }
    return m;
  };
  const threads = options.threads > 0 ? { threads: options.threads } : {};
  let context: Promise<LlamaContext> | undefined;
  const chatContext = () => {
    context ??= load(options.model!).then((m) =>
      m.createContext({ contextSize: options.contextSize, sequences: options.sequences, ...threads }),
    );
    return context;
  };
  let embedding: Promise<LlamaEmbeddingContext> | undefined;
  const embeddingContext = () => {
    embedding ??= load(options.embeddingModel!).then((m) =>
      m.createEmbeddingContext({ contextSize: options.contextSize, ...threads }),
    );
    return embedding;
  };
  // Load now: a bad file fails the process at start, not its first caller.
  if (options.model) await chatContext();
  if (options.embeddingModel) await embeddingContext();
  const slots = createSlots(options.sequences);

  async function* chat(input: ChatInput, signal: AbortSignal): AsyncIterable<ChatEvent> {
    if (!options.model) throw new ProviderError(name, "unsupported", `${name} has no chat model (set LLM_LOCAL_MODEL)`);
    if (input.tools.length > 0)
      throw new ProviderError(name, "unsupported", `${name} models do not call tools here; use a provider that does`);
    const ctx = await chatContext();
    const events: ChatEvent[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const push = (e: ChatEvent) => {
      events.push(e);
      wake?.();
    };
    const run = slots.run(async () => {
      const { LlamaChatSession } = await import("node-llama-cpp");
      const sequence = ctx.getSequence();
      try {
        const session = new LlamaChatSession({ contextSequence: sequence, autoDisposeSequence: false });
        const { history, prompt } = historyOf(input);
        session.setChatHistory(history);
        const grammar = input.jsonSchema
          ? await engine.createGrammarForJsonSchema(input.jsonSchema.schema as never)
          : undefined;
        const before = { in: sequence.tokenMeter.usedInputTokens, out: sequence.tokenMeter.usedOutputTokens };
        const result = await session.promptWithMeta(prompt, {
          signal,
          maxTokens: input.maxTokens,
          temperature: input.temperature,
          topP: input.topP,
          seed: input.seed,
          customStopTriggers: input.stop.length > 0 ? input.stop : undefined,
          ...(grammar ? { grammar } : {}),
          onTextChunk: (text) => push({ type: "text", text }),
        });
        session.dispose({ disposeSequence: false });
        push({
          type: "done",
          finishReason: result.stopReason === "maxTokens" ? FinishReason.LENGTH : FinishReason.STOP,
          usage: {
            prompt: sequence.tokenMeter.usedInputTokens - before.in,
            completion: sequence.tokenMeter.usedOutputTokens - before.out,
            cached: 0,
          },
        });
      } finally {
        sequence.dispose();
      }
    }, signal);
    run.then(
      () => {
        finished = true;
        wake?.();
      },
      (err) => {
        failure = err;
        finished = true;
        wake?.();
      },
    );
    while (true) {
      if (events.length > 0) {
        const e = events.shift()!;
        yield e;
        if (e.type === "done") return;
        continue;
      }
      if (finished) {
        if (signal.aborted) throw signal.reason;
        throw failure instanceof ProviderError
          ? failure
          : new ProviderError(name, "unavailable", `${name} failed: ${(failure as Error)?.message ?? "no answer"}`, {
              cause: failure,
            });
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }

  async function embed(input: { texts: string[] }, signal: AbortSignal) {
    if (!options.embeddingModel)
      throw new ProviderError(name, "unsupported", `${name} has no embedding model (set LLM_LOCAL_EMBEDDING_MODEL)`);
    const ctx = await embeddingContext();
    const model = await load(options.embeddingModel);
    const vectors: number[][] = [];
    let promptTokens = 0;
    for (const [i, text] of input.texts.entries()) {
      signal.throwIfAborted();
      const tokens = model.tokenize(text);
      if (tokens.length > options.contextSize)
        throw new ProviderError(
          name,
          "refused",
          `texts[${i}] is ${tokens.length} tokens, over the ${options.contextSize}-token context`,
        );
      promptTokens += tokens.length;
      const e = await slots.run(() => ctx.getEmbeddingFor(tokens), signal);
      vectors.push([...e.vector]);
    }
    return { vectors, promptTokens };
  }

  async function countTokens(model: string, text: string) {
    return (await load(model || options.model || options.embeddingModel!)).tokenize(text).length;
  }

  return {
    name,
    chat,
    embed,
    countTokens,
    async close() {
      await (await embedding)?.dispose();
      await (await context)?.dispose();
      for (const m of models.values()) await (await m).dispose();
    },
  };
}

/** The conversation as a chat history, and the last user turn as the prompt. */
function historyOf(input: ChatInput): { history: ChatHistoryItem[]; prompt: string } {
  const history: ChatHistoryItem[] = input.system ? [{ type: "system", text: input.system }] : [];
  const messages = [...input.messages];
  const last = messages.at(-1);
  const prompt = last && last.role !== Role.ASSISTANT ? textOf(messages.pop()!) : "";
  for (const m of messages) {
    if (m.role === Role.SYSTEM) history.push({ type: "system", text: textOf(m) });
    else if (m.role === Role.ASSISTANT) history.push({ type: "model", response: [textOf(m)] });
    else history.push({ type: "user", text: m.role === Role.TOOL ? `Tool result: ${textOf(m)}` : textOf(m) });
  }
  return { history, prompt };
}

/** At most `size` runs at once, the rest waiting in order; a waiting run leaves when its signal aborts. */
function createSlots(size: number) {
  let free = size;
  const waiting: (() => void)[] = [];
  return {
    async run<T>(work: () => Promise<T>, signal: AbortSignal): Promise<T> {
      if (free > 0) free--;
      else
        await new Promise<void>((resolve, reject) => {
          const start = () => {
            signal.removeEventListener("abort", leave);
            resolve();
          };
          const leave = () => {
            waiting.splice(waiting.indexOf(start), 1);
            reject(signal.reason);
          };
          signal.throwIfAborted();
          waiting.push(start);
          signal.addEventListener("abort", leave, { once: true });
        });
      try {
        return await work();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else free++;
      }
    },
  };
}
