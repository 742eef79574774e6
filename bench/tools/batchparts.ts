/**
 * The parts of a 10,000-item batch submit, timed alone: the database write (job, items, outbox,
 * first event), the JetStream publish, and the outbox clear. `node --import tsx bench/tools/batchparts.ts`.
 */
import { createSql } from "#db/sql.js";
import { migrate } from "#db/migrate.js";
import { createJobStore } from "#jobs/store.js";
import { createJetStreamBus } from "#bus/jetstream/bus.js";
import { freshPostgresDatabase } from "#test/support/databases.js";
import { startNats } from "#test/support/nats.js";
const db = await freshPostgresDatabase();
const nats = await startNats();
const sql = createSql(db.url, { max: 4 });
await migrate(sql);
const store = createJobStore(sql);
const bus = await createJetStreamBus({ servers: nats.url });
const req = new Uint8Array(20).fill(7);
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  const { job, outbox } = await store.submit({
    tenantId: "t",
    method: "flowforge.crypto.v1.CryptoService/Hash",
    capability: "crypto",
    batch: true,
    requests: Array.from({ length: 10000 }, () => req),
    requestId: "r",
    traceparent: "",
  });
  const tSubmit = performance.now() - t;
  t = performance.now();
  await bus.publish(
    Array.from({ length: 10000 }, (_, i) => ({
      capability: "crypto",
      jobId: job.id,
      index: i,
      method: job.method,
      tenant: "t",
      requestId: "r",
      traceparent: "",
      data: req,
    })),
  );
  const tPub = performance.now() - t;
  t = performance.now();
  await store.clearOutbox([outbox!.id]);
  console.log(
    `db ${tSubmit.toFixed(0)} ms, publish ${tPub.toFixed(0)} ms, clear ${(performance.now() - t).toFixed(0)} ms`,
  );
}
await bus.close();
await sql.end();
await nats.stop();
await db.drop();
process.exit(0);
