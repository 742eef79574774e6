/** An LlmService over the test providers (test/support/llm-providers.ts), called in-process. */
import { LlmService } from "#gen/flowforge/llm/v1/llm_pb.js";
import { tenantClient } from "#test/support/in-process.js";
import { llmConfig } from "../config.js";
import { createProviders } from "../providers/index.js";
import { createLlmService, type LlmServiceOptions } from "../service.js";

/** The alias table the tests use: one alias per behaviour of the test providers. */
export function testModels(extra: Record<string, unknown> = {}) {
  const openai = (model: string, more: object = {}) => ({ provider: "openai", model, ...more });
  return {
    fast: openai("echo"),
    tools: openai("tools"),
    "undeclared-tool": openai("undeclared-tool"),
    json: openai("json"),
    "bad-json": openai("bad-json"),
    "rate-limited-once": openai("rate-limited-once"),
    "always-429": openai("always-429", { retries: 1 }),
    "always-500": openai("always-500", { retries: 1 }),
    hang: openai("hang", { timeoutMs: 300, retries: 0 }),
    "hang-long": openai("hang~2", { retries: 0 }),
    drop: openai("drop", { retries: 0 }),
    garbage: openai("garbage", { retries: 0 }),
    "with-fallback": openai("always-500~b", { retries: 0, fallbacks: ["claude"] }),
    small: openai("echo", { contextWindow: 50, fallbacks: ["fast"] }),
    tiny: openai("echo", { contextWindow: 50 }),
    claude: { provider: "anthropic", model: "echo" },
    "claude-tools": { provider: "anthropic", model: "tools" },
    "claude-json": { provider: "anthropic", model: "json" },
    embed: { provider: "openai", model: "echo", embeddingModel: "embed" },
    ...extra,
  };
}

/** The service's configuration against the test providers at `openai` and `anthropic`. */
export function testConfig(urls: { openai: string; anthropic: string }, env: Record<string, string> = {}) {
  return llmConfig({
    OPENAI_BASE_URL: urls.openai,
    OPENAI_API_KEY: "sk-test",
    OPENAI_MODEL: "echo",
    OPENAI_EMBEDDING_MODEL: "embed",
    ANTHROPIC_BASE_URL: urls.anthropic,
    ANTHROPIC_API_KEY: "ak-test",
    ANTHROPIC_MODEL: "echo",
    LLM_MODELS: JSON.stringify(testModels()),
    LLM_PRICES: JSON.stringify({ echo: { prompt: 1, completion: 2 } }),
    LLM_COOLDOWN_MS: "60000",
    ...env,
  });
}

/** A typed LlmService client over the real handlers and providers. */
export async function llmClient(config: ReturnType<typeof llmConfig>, options: Partial<LlmServiceOptions> = {}) {
  const providers = await createProviders(config);
  const service = createLlmService({ config, providers, retryBaseMs: 5, ...options });
  return { client: tenantClient(LlmService, service.impl), close: service.close, service };
}
