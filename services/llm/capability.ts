/** The LLM capability: chats, embeddings and token counts over OpenAI-compatible servers, Anthropic and local GGUF models. */
import { LlmService } from "#gen/flowforge/llm/v1/llm_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { blobConfig } from "#config/index.js";
import { llmConfigOf, llmSettings } from "./config.js";

export default defineCapability({
  name: "llm",
  services: [LlmService],
  settings: llmSettings,
  async create({ env, settings, config: service, logger }) {
    const config = llmConfigOf(settings);
    const [{ createLlmService }, { createProviders }, { withBlobStore }, usage, cache] = await Promise.all([
      import("./service.js"),
      import("./providers/index.js"),
      import("#blobs/open.js"),
      import("./usage.js"),
      import("./cache.js"),
    ]);
    const providers = await createProviders(config);
    if (config.providers.length > 0) await (await import("./tokens.js")).loadEncodings();
    let closeSql = async () => {};
    let store = usage.createMemoryUsageStore() as import("./usage.js").UsageStore;
    if (service.database) {
      const [{ createSql }, { migrate }] = await Promise.all([import("#db/sql.js"), import("#db/migrate.js")]);
      const sql = createSql(service.database.url, { max: Math.min(4, service.database.pool), applicationName: "llm" });
      await migrate(sql);
      store = usage.createSqlUsageStore(sql);
      closeSql = () => sql.end();
    } else logger.warn("no DATABASE_URL: LLM usage is kept in memory, and budgets count this process's calls only");
    const responseCache =
      config.cacheTtlSeconds <= 0
        ? undefined
        : config.redisUrl
          ? await cache.createRedisCache(config.redisUrl, config.cacheTtlSeconds)
          : cache.createMemoryCache(config.cacheTtlSeconds);
    if (config.providers.length === 0)
      logger.info("no model provider configured: LlmService answers failed_precondition");
    const { impl, stop } = await withBlobStore(blobConfig(env), (blobs) => {
      const built = createLlmService({ config, providers, usage: store, cache: responseCache, blobs });
      return { impl: built.impl, close: built.close };
    });
    return {
      services: [register(LlmService, impl)],
      async stop() {
        await stop?.();
        await closeSql();
      },
    };
  },
  deploy: {
    memory: "2Gi",
    summary: "LlmService: stateless, scaled by CPU; calls providers with fallbacks, runs GGUF models in-process.",
  },
});
