/** The configured providers, by name. */
import type { LlmConfig } from "../config.js";
import { createAnthropicProvider } from "./anthropic.js";
import { createOpenAiProvider } from "./openai.js";
import type { Provider } from "./provider.js";

/** Builds every configured provider; the local engine loads its GGUF files here, once. */
export async function createProviders(config: Pick<LlmConfig, "providers" | "local">): Promise<Map<string, Provider>> {
  const providers = new Map<string, Provider>();
  for (const p of config.providers) {
    if (p.kind === "openai") providers.set(p.name, createOpenAiProvider(p));
    else if (p.kind === "anthropic") providers.set(p.name, createAnthropicProvider(p));
    else {
      const { createLocalProvider } = await import("./local.js");
      providers.set(p.name, await createLocalProvider({ name: p.name, ...config.local }));
    }
  }
  return providers;
}
