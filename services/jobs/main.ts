/**
 * The jobs service process. Environment: `DATABASE_URL` (required), `NATS_URL` (JetStream; when
 * unset an in-process bus is used and this process also runs every capability's workers),
 * `JOBS_PORT`, `MAX_BATCH_ITEMS`, `JOB_CONCURRENCY`, `JOB_MAX_ATTEMPTS`, `JOB_ACK_WAIT_MS`,
 * `FLOWFORGE_WEBHOOK_ALLOW_PRIVATE=1` to allow webhooks to private addresses.
 */
import { JobService } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import { register } from "../../lib/runtime/server.js";
import { runService } from "../../lib/runtime/run.js";
import { createLogger } from "../../lib/runtime/logger.js";
import { envInt } from "../../lib/runtime/config.js";
import { sqlFromEnv } from "../../lib/db/sql.js";
import { migrate } from "../../lib/db/migrate.js";
import { busFromEnv } from "../../lib/bus/index.js";
import { createJobStore } from "../../lib/jobs/store.js";
import { startWorker, workerOptionsFromEnv } from "../../lib/jobs/worker.js";
import { startWebhookDispatcher } from "../../lib/jobs/webhooks.js";
import { topics } from "../../lib/jobs/topics.js";
import { catalog, catalogRegistry, jobCapabilities } from "../catalog.js";
import { implementations } from "../implementations.js";
import { createJobService } from "./service.js";

const logger = createLogger({ name: "jobs" });
const sql = sqlFromEnv(logger, "flowforge-jobs");
await migrate(sql);
const { bus, kind } = await busFromEnv();
const store = createJobStore(sql);
const registry = catalogRegistry();
const allowPrivate = process.env.FLOWFORGE_WEBHOOK_ALLOW_PRIVATE === "1";
const { impl, relay } = createJobService({ store, bus, logger, registry, allowPrivateWebhooks: allowPrivate, maxBatchItems: envInt("MAX_BATCH_ITEMS", 100_000), recoverOnStart: kind === "memory" });
const webhooks = startWebhookDispatcher({ store, logger, registry, allowPrivate });
const offFinished = bus.subscribe(topics.webhookDue("*"), () => webhooks.poke());

// Embedded: the in-process bus only reaches this process, so the workers live here.
const workers =
  kind === "memory"
    ? await Promise.all(
        jobCapabilities.map(async (capability) =>
          startWorker({
            bus,
            store,
            logger,
            capability,
            service: catalog[capability].service,
            impl: await implementations[capability]!(),
            ...workerOptionsFromEnv(),
          }),
        ),
      )
    : [];
logger.info({ bus: kind, workers: workers.length ? jobCapabilities : [] }, "jobs ready");

await runService({
  name: "jobs",
  defaultPort: catalog.jobs.defaultPort,
  services: [register(JobService, impl)],
  async onStop() {
    offFinished();
    await Promise.all(workers.map((w) => w.stop()));
    await relay.stop();
    await webhooks.stop();
    await bus.close();
    await sql.end({ timeout: 5 });
  },
});
