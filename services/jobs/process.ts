/**
 * What the jobs process runs besides JobService: migrations, the bus, the outbox relay and the
 * webhook dispatcher. Without `NATS_URL` it holds the in-process bus and serves it (BusService) to
 * the capability processes, whose own workers consume from it; it never loads capability code.
 * Environment: `DATABASE_URL` (required), `NATS_URL`, `MAX_BATCH_ITEMS`,
 * `FLOWFORGE_WEBHOOK_ALLOW_PRIVATE=1`.
 */
import { JobService } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { type CapabilityContext, type CapabilityInstance, findJobMethodAmong, registryOf } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { sqlFor } from "#db/sql.js";
import { jobsConfig } from "#config/index.js";
import { migrate } from "#db/migrate.js";
import { busFor, createBusService, createMemoryBus } from "#bus/index.js";
import { BusService } from "#gen/flowforge/bus/v1/bus_pb.js";
import { createJobStore } from "#jobs/store.js";
import { startWebhookDispatcher } from "#jobs/webhooks.js";
import { topics } from "#jobs/topics.js";
import { createJobService } from "./service.js";

/** Builds the jobs process's services and background work. */
export async function createJobsProcess({
  logger,
  env,
  config: service,
  capabilities,
}: CapabilityContext): Promise<CapabilityInstance> {
  const config = { ...service, ...jobsConfig(env) };
  const sql = sqlFor(config.database, "flowforge-jobs");
  await migrate(sql);
  // The jobs process is where the embedded bus lives (JOB_BUS_ADDR points the others here).
  const { bus, kind } = config.bus.natsUrl
    ? await busFor(config.bus)
    : { bus: createMemoryBus(), kind: "memory" as const };
  const store = createJobStore(sql);
  const registry = registryOf(capabilities);
  const allowPrivate = config.allowPrivateWebhooks;
  const { impl, relay } = createJobService({
    store,
    bus,
    logger,
    registry,
    findMethod: (fullName) => findJobMethodAmong(capabilities, fullName),
    allowPrivateWebhooks: allowPrivate,
    maxBatchItems: config.maxBatchItems,
    recoverOnStart: kind === "memory",
  });
  const webhooks = startWebhookDispatcher({ store, logger, registry, allowPrivate });
  const offFinished = bus.subscribe(topics.webhookDue("*"), () => webhooks.poke());

  logger.info({ bus: kind }, "jobs ready");

  return {
    services: [register(JobService, impl), ...(kind === "memory" ? [register(BusService, createBusService(bus))] : [])],
    async stop() {
      offFinished();
      await relay.stop();
      await webhooks.stop();
      await bus.close();
      await sql.end({ timeout: 5 });
    },
  };
}
