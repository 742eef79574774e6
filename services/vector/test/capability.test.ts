/**
 * The vector capability as its process builds it, on this machine's PostgreSQL, which has no
 * pgvector: the service still starts (the mesh stays healthy) and answers failed_precondition
 * saying what the database lacks.
 */
import { expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { serviceConfig } from "#config/index.js";
import { createLogger } from "#runtime/logger.js";
import { asTenant, failure, tenantClient } from "#test/support/in-process.js";
import { postgresUrl } from "#test/support/databases.js";
import capability from "../capability.js";
import { settingsOf } from "#capability/index.js";

it("starts on a PostgreSQL without pgvector and answers failed_precondition naming what to set", async () => {
  const env = { DATABASE_URL: postgresUrl, LOG_LEVEL: "silent" };
  const instance = await capability.create({
    env,
    config: serviceConfig(env),
    settings: settingsOf(capability, env),
    logger: createLogger({ name: "vector", level: "silent" }),
    capabilities: async () => [capability],
  });
  try {
    const impl = instance.services.find((s) => s.service === VectorService)!.impl as never;
    const client = tenantClient(VectorService, impl);
    const f = await failure(client.listCollections({}, asTenant("t")));
    expect(f.code).toBe(Code.FailedPrecondition);
    expect(f.message).toMatch(/no pgvector extension.*VECTOR_DATABASE_URL/);
  } finally {
    await instance.stop?.();
  }
});
