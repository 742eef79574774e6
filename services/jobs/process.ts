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
import { gaugeOnScrape } from "#runtime/metrics.js";
import { createJobService } from "./service.js";

/** Builds the jobs process's services and background work. */
export async function createJobsProcess({
  logger,
  env,
  config: service,
  capabilities: loadCapabilities,
}: CapabilityContext): Promise<CapabilityInstance> {
  const capabilities = await loadCapabilities();
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
  // Read from the database when Prometheus scrapes: what is left to do, and how long the oldest
  // submit has waited for its tasks to reach the bus.
  gaugeOnScrape({
    name: "flowforge_job_queue_depth",
    help: "Items of unfinished jobs not yet settled, by method.",
    labelNames: ["method"],
    read: async () =>
      (
        await sql<{ method: string; left: number }[]>`
          SELECT method, sum(total - succeeded - failed - cancelled)::int AS left
          FROM jobs WHERE state IN (1, 2) GROUP BY method`
      ).map((r) => ({ labels: { method: r.method }, value: r.left })),
  });
  // Every process's pool as the database sees it (each connects as flowforge-<process>).
  gaugeOnScrape({
    name: "flowforge_db_connections",
    help: "Database connections of each FlowForge process, by state (active: running a statement), from pg_stat_activity.",
    labelNames: ["application", "state"],
    read: async () =>
      (
        await sql<{ application: string; state: string; n: number }[]>`
          SELECT application_name AS application, coalesce(state, 'unknown') AS state, count(*)::int AS n
          FROM pg_stat_activity WHERE application_name LIKE 'flowforge%' GROUP BY 1, 2`
      ).map((r) => ({ labels: { application: r.application, state: r.state }, value: r.n })),
  });
  gaugeOnScrape({
    name: "flowforge_job_outbox_oldest_seconds",
    help: "Age of the oldest outbox row whose tasks are not yet on the bus (0: none).",
    read: async () => {
      const [row] = await sql<{ age: number }[]>`
        SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(create_time)), 0)::float8 AS age FROM job_outbox`;
      return [{ value: row.age }];
    },
  });
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
