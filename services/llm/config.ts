/**
 * The LLM capability's settings, read once from the environment: which providers are configured,
 * the model alias table (each alias with its fallbacks, timeout, retries and context window), the
 * price table, tenants' token budgets and the response cache.
 */
import { type CleanedEnv, makeValidator, num, str } from "envalid";
import { clean, ConfigError } from "#config/index.js";

/** How a provider is spoken to. */
export type ProviderKind = "openai" | "anthropic" | "local";

/** A provider: an OpenAI-compatible server, Anthropic's API, or GGUF files run in-process. */
export interface ProviderConfig {
  /** The name aliases refer to ("openai", "anthropic", "local", or an operator's own). */
  name: string;
  kind: ProviderKind;
  /** The server's base URL (OpenAI-compatible, Anthropic). */
  baseUrl?: string;
  apiKey?: string;
}

/** What a model can do. */
export interface ModelAbilities {
  chat: boolean;
  tools: boolean;
  jsonSchema: boolean;
  vision: boolean;
  embeddings: boolean;
}

/** One alias of the model table: where it goes and how it is called. */
export interface ModelAlias extends ModelAbilities {
  alias: string;
  provider: string;
  /** The provider's chat model (a GGUF path for "local"). */
  model: string;
  /** The provider's embedding model, where the alias makes embeddings. */
  embeddingModel?: string;
  /** Tokens of prompt and answer together. */
  contextWindow: number;
  /** Aliases tried in order when this one fails or its window is too small. */
  fallbacks: string[];
  /** Longest one attempt may wait for the provider's next token (or its answer). */
  timeoutMs: number;
  /** Attempts after the first on 429 / 5xx / a dropped connection. */
  retries: number;
}

/** Price per million tokens, US dollars. */
export interface Price {
  prompt: number;
  completion: number;
  /** Cached prompt tokens (default: the prompt price). */
  cached?: number;
}

/** A tenant's token budget (prompt and completion tokens together); 0 is unlimited. */
export interface Budget {
  tokensPerDay: number;
  tokensPerMonth: number;
}

/** The local engine's settings. */
export interface LocalConfig {
  /** The GGUF file chat and JSON run on. */
  model?: string;
  /** The GGUF file embeddings come from (default: the chat model). */
  embeddingModel?: string;
  /** Context size a sequence is given (at most the model's own). */
  contextSize: number;
  /** Sequences answered at once. */
  sequences: number;
  /** CPU threads (0: llama.cpp's default). */
  threads: number;
}

/** Defaults every alias gets unless it says otherwise. */
export const llmDefaults = {
  timeoutMs: 60_000,
  retries: 2,
  cooldownMs: 30_000,
  maxRetryAfterMs: 30_000,
  cacheTtlSeconds: 3600,
  openaiModel: "gpt-4o-mini",
  openaiEmbeddingModel: "text-embedding-3-small",
  openaiContextWindow: 128_000,
  anthropicModel: "claude-sonnet-4-5",
  anthropicContextWindow: 200_000,
  localContextSize: 2048,
};

/** An alias as the operator writes it in LLM_MODELS. */
interface AliasSpec extends Partial<ModelAbilities> {
  provider?: string;
  model?: string;
  embeddingModel?: string;
  contextWindow?: number;
  fallbacks?: string[];
  timeoutMs?: number;
  retries?: number;
}

const jsonObject = <T>(what: string) =>
  makeValidator<Record<string, T>>((raw) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`must be a JSON object of ${what}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error(`must be a JSON object of ${what}`);
    return parsed as Record<string, T>;
  });

const d = llmDefaults;
/** The LLM service's environment variables (its declaration holds them; docs/operating.md lists them). */
export const llmSettings = {
  OPENAI_BASE_URL: str({
    default: "",
    desc: "an OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, LM Studio)",
  }),
  OPENAI_API_KEY: str({ default: "", desc: "its API key" }),
  OPENAI_MODEL: str({ default: d.openaiModel, desc: "its chat model, the alias openai" }),
  OPENAI_EMBEDDING_MODEL: str({ default: d.openaiEmbeddingModel, desc: "its embedding model" }),
  OPENAI_CONTEXT_WINDOW: num({ default: d.openaiContextWindow, desc: "its chat model's context window" }),
  ANTHROPIC_BASE_URL: str({ default: "", desc: "Anthropic's API (or a server speaking it)" }),
  ANTHROPIC_API_KEY: str({ default: "", desc: "its API key" }),
  ANTHROPIC_MODEL: str({ default: d.anthropicModel, desc: "its model, the alias anthropic" }),
  ANTHROPIC_CONTEXT_WINDOW: num({ default: d.anthropicContextWindow, desc: "its model's context window" }),
  LLM_LOCAL_MODEL: str({ default: "", desc: "a GGUF file run in-process (node-llama-cpp), the alias local" }),
  LLM_LOCAL_EMBEDDING_MODEL: str({ default: "", desc: "a GGUF file for embeddings (default: LLM_LOCAL_MODEL)" }),
  LLM_LOCAL_CONTEXT: num({ default: d.localContextSize, desc: "tokens of context per local sequence" }),
  LLM_LOCAL_SEQUENCES: num({ default: 2, desc: "local answers computed at once" }),
  LLM_LOCAL_THREADS: num({ default: 0, desc: "CPU threads of the local engine (0: its default)" }),
  LLM_PROVIDERS: jsonObject<Omit<ProviderConfig, "name">>("providers: name → {kind, baseUrl, apiKey}")({
    default: {},
    desc: 'more providers: {"vllm": {"kind": "openai", "baseUrl": "http://vllm:8000/v1"}}',
  }),
  LLM_MODELS: jsonObject<AliasSpec>("aliases: name → {provider, model, fallbacks, ...}")({
    default: {},
    desc: 'the alias table: {"fast": {"provider": "openai", "model": "gpt-4o-mini", "fallbacks": ["local"]}}',
  }),
  LLM_PRICES: jsonObject<Price>("prices: model → {prompt, completion, cached}")({
    default: {},
    desc: 'US dollars per million tokens by provider model: {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}}',
  }),
  LLM_BUDGETS: jsonObject<Partial<Budget>>("budgets: tenant (or *) → {tokensPerDay, tokensPerMonth}")({
    default: {},
    desc: 'token budgets per tenant, "*" for every tenant: {"*": {"tokensPerDay": 1000000}}',
  }),
  LLM_TIMEOUT_MS: num({ default: d.timeoutMs, desc: "longest wait for a provider's next token, per attempt" }),
  LLM_RETRIES: num({ default: d.retries, desc: "retries on 429 / 5xx / a dropped connection" }),
  LLM_COOLDOWN_MS: num({ default: d.cooldownMs, desc: "a deployment that failed is skipped this long" }),
  LLM_MAX_RETRY_AFTER_MS: num({
    default: d.maxRetryAfterMs,
    desc: "longest Retry-After waited for; a longer one moves on to the fallback",
  }),
  LLM_CACHE_TTL_SECONDS: num({ default: d.cacheTtlSeconds, desc: "how long a cached answer is kept (0: no cache)" }),
  REDIS_URL: str({ default: "", desc: "Redis for the response cache (in memory without it)" }),
};

/** The LLM service's settings from the environment (every variable is documented in docs/operating.md). */
export function llmConfig(env: NodeJS.ProcessEnv = process.env) {
  return llmConfigOf(clean(env, llmSettings));
}

/** The configuration from the settings read. */
export function llmConfigOf(e: CleanedEnv<typeof llmSettings>) {
  const providers: ProviderConfig[] = [];
  const aliases = new Map<string, ModelAlias>();
  const base = { timeoutMs: e.LLM_TIMEOUT_MS, retries: e.LLM_RETRIES, fallbacks: [] as string[] };
  if (e.OPENAI_BASE_URL || e.OPENAI_API_KEY) {
    providers.push({
      name: "openai",
      kind: "openai",
      baseUrl: e.OPENAI_BASE_URL || undefined,
      apiKey: e.OPENAI_API_KEY,
    });
    aliases.set("openai", {
      ...base,
      alias: "openai",
      provider: "openai",
      model: e.OPENAI_MODEL,
      embeddingModel: e.OPENAI_EMBEDDING_MODEL,
      contextWindow: e.OPENAI_CONTEXT_WINDOW,
      ...abilitiesOf("openai"),
    });
  }
  if (e.ANTHROPIC_BASE_URL || e.ANTHROPIC_API_KEY) {
    providers.push({
      name: "anthropic",
      kind: "anthropic",
      baseUrl: e.ANTHROPIC_BASE_URL || undefined,
      apiKey: e.ANTHROPIC_API_KEY,
    });
    aliases.set("anthropic", {
      ...base,
      alias: "anthropic",
      provider: "anthropic",
      model: e.ANTHROPIC_MODEL,
      contextWindow: e.ANTHROPIC_CONTEXT_WINDOW,
      ...abilitiesOf("anthropic"),
    });
  }
  const local: LocalConfig = {
    model: e.LLM_LOCAL_MODEL || undefined,
    embeddingModel: e.LLM_LOCAL_EMBEDDING_MODEL || e.LLM_LOCAL_MODEL || undefined,
    contextSize: e.LLM_LOCAL_CONTEXT,
    sequences: e.LLM_LOCAL_SEQUENCES,
    threads: e.LLM_LOCAL_THREADS,
  };
  if (local.model || local.embeddingModel) {
    providers.push({ name: "local", kind: "local" });
    aliases.set("local", {
      ...base,
      alias: "local",
      provider: "local",
      model: local.model ?? "",
      embeddingModel: local.embeddingModel,
      contextWindow: local.contextSize,
      ...abilitiesOf("local"),
      chat: local.model !== undefined,
    });
  }
  for (const [name, spec] of Object.entries(e.LLM_PROVIDERS)) {
    const kind = spec?.kind;
    if (kind !== "openai" && kind !== "anthropic")
      throw configError("LLM_PROVIDERS", `${name}.kind must be "openai" or "anthropic"`);
    if (providers.some((p) => p.name === name)) throw configError("LLM_PROVIDERS", `${name} is already a provider`);
    providers.push({ name, kind, baseUrl: spec.baseUrl, apiKey: spec.apiKey ?? "" });
  }
  const kindOf = (provider: string) => providers.find((p) => p.name === provider)?.kind;
  for (const [alias, spec] of Object.entries(e.LLM_MODELS)) {
    const provider = spec.provider ?? aliases.get(alias)?.provider;
    const kind = provider === undefined ? undefined : kindOf(provider);
    if (!provider || !kind)
      throw configError(
        "LLM_MODELS",
        `${alias}.provider must name a configured provider (${providers.map((p) => p.name).join(", ") || "none is: set OPENAI_BASE_URL, ANTHROPIC_API_KEY or LLM_LOCAL_MODEL"})`,
      );
    const inherited = aliases.get(provider);
    const model = spec.model ?? inherited?.model;
    if (!model && !spec.embeddingModel) throw configError("LLM_MODELS", `${alias}.model is required`);
    aliases.set(alias, {
      ...base,
      ...abilitiesOf(kind),
      ...pick(inherited, ["contextWindow", "embeddingModel"]),
      ...(spec as object),
      alias,
      provider,
      model: model ?? "",
      chat: spec.chat ?? Boolean(model),
      embeddings: spec.embeddings ?? Boolean(spec.embeddingModel ?? inherited?.embeddingModel),
      contextWindow: spec.contextWindow ?? inherited?.contextWindow ?? llmDefaults.openaiContextWindow,
      fallbacks: spec.fallbacks ?? [],
    } as ModelAlias);
  }
  // "default" is the first configured provider's model unless the table names one.
  if (!aliases.has("default") && providers.length > 0) {
    const first = aliases.get(providers[0].name);
    if (first) aliases.set("default", { ...first, alias: "default" });
  }
  for (const a of aliases.values())
    for (const f of a.fallbacks)
      if (!aliases.has(f)) throw configError("LLM_MODELS", `${a.alias}.fallbacks names "${f}", which is not an alias`);

  return {
    providers,
    aliases,
    local,
    prices: e.LLM_PRICES,
    budgets: e.LLM_BUDGETS,
    cooldownMs: e.LLM_COOLDOWN_MS,
    maxRetryAfterMs: e.LLM_MAX_RETRY_AFTER_MS,
    cacheTtlSeconds: e.LLM_CACHE_TTL_SECONDS,
    redisUrl: e.REDIS_URL || undefined,
  };
}

/** The LLM service's configuration. */
export type LlmConfig = ReturnType<typeof llmConfig>;

/** What a provider kind's models can do unless the alias table says otherwise. */
function abilitiesOf(kind: ProviderKind): ModelAbilities {
  if (kind === "local") return { chat: true, tools: false, jsonSchema: true, vision: false, embeddings: true };
  return { chat: true, tools: true, jsonSchema: true, vision: true, embeddings: kind === "openai" };
}

function pick<T extends object>(from: T | undefined, keys: (keyof T)[]): Partial<T> {
  if (!from) return {};
  return Object.fromEntries(keys.filter((k) => from[k] !== undefined).map((k) => [k, from[k]])) as Partial<T>;
}

function configError(variable: string, message: string) {
  return new ConfigError(`bad configuration: ${variable}: ${message}`);
}
