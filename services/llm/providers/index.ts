/** The configured providers, by name. */
import type { LlmConfig } from "../config.js";
import type { Provider } from "./provider.js";

/**
 * Builds every configured provider; each SDK (the `openai` and `@anthropic-ai/sdk` clients,
 * node-llama-cpp) is loaded only when a provider uses it, so an LLM service with none configured
 * stays small. The local engine loads its GGUF files here, once.
 */
export async function createProviders(config: Pick<LlmConfig, "providers" | "local">): Promise<Map<string, Provider>> {
  const providers = new Map<string, Provider>();
  for (const p of config.providers) {
    if (p.kind === "openai") {
      const { createOpenAiProvider } = await import("./openai.js");
      providers.set(p.name, createOpenAiProvider(p));
    } else if (p.kind === "anthropic") {
      const { createAnthropicProvider } = await import("./anthropic.js");
      providers.set(p.name, createAnthropicProvider(p));
    } else {
      const { createLocalProvider } = await import("./local.js");
      providers.set(p.name, await createLocalProvider({ name: p.name, ...config.local }));
    }
  }
  return providers;
}
