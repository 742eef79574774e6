/**
 * What the jobs process runs besides JobService: migrations, the bus, the outbox relay, the
 * webhook dispatcher and, with the in-process bus (no `NATS_URL`), every job capability's workers.
 * Environment: `DATABASE_URL` (required), `NATS_URL`, `MAX_BATCH_ITEMS`, `JOB_CONCURRENCY`,
 * `JOB_MAX_ATTEMPTS`, `JOB_ACK_WAIT_MS`, `FLOWFORGE_WEBHOOK_ALLOW_PRIVATE=1`.
 */
import { JobService } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import type { CapabilityContext, CapabilityInstance } from "../../lib/capability/index.js";
import { register } from "../../lib/runtime/server.js";
import { envInt } from "../../lib/runtime/config.js";
import { sqlFromEnv } from "../../lib/db/sql.js";
import { migrate } from "../../lib/db/migrate.js";
import { busFromEnv, type Consumer } from "../../lib/bus/index.js";
import { createJobStore } from "../../lib/jobs/store.js";
import { startWorker, workerOptionsFromEnv } from "../../lib/jobs/worker.js";
import { startWebhookDispatcher } from "../../lib/jobs/webhooks.js";
import { topics } from "../../lib/jobs/topics.js";
import { catalog, catalogRegistry, jobCapabilities } from "../catalog.js";
import { createJobService } from "./service.js";

/** Builds the jobs process's services and background work. */
export async function createJobsProcess({ logger, env }: CapabilityContext): Promise<CapabilityInstance> {
  const sql = sqlFromEnv(logger, "flowforge-jobs");
  await migrate(sql);
  const { bus, kind } = await busFromEnv(env);
  const store = createJobStore(sql);
  const registry = catalogRegistry();
  const allowPrivate = env.FLOWFORGE_WEBHOOK_ALLOW_PRIVATE === "1";
  const { impl, relay } = createJobService({
    store,
    bus,
    logger,
    registry,
    allowPrivateWebhooks: allowPrivate,
    maxBatchItems: envInt("MAX_BATCH_ITEMS", 100_000, env),
    recoverOnStart: kind === "memory",
  });
  const webhooks = startWebhookDispatcher({ store, logger, registry, allowPrivate });
  const offFinished = bus.subscribe(topics.webhookDue("*"), () => webhooks.poke());

  // Embedded: the in-process bus only reaches this process, so the workers live here.
  const workers: Consumer[] = [];
  if (kind === "memory") {
    for (const name of jobCapabilities) {
      const instance = await catalog[name].create({ logger, env });
      for (const { service, impl: handlers } of instance.services) {
        workers.push(await startWorker({ bus, store, logger, capability: name, service, impl: handlers, ...workerOptionsFromEnv() }));
      }
    }
  }
  logger.info({ bus: kind, workers: workers.length ? jobCapabilities : [] }, "jobs ready");

  return {
    services: [register(JobService, impl)],
    async stop() {
      offFinished();
      await Promise.all(workers.map((w) => w.stop()));
      await relay.stop();
      await webhooks.stop();
      await bus.close();
      await sql.end({ timeout: 5 });
    },
  };
}
