import { createSql } from "../../lib/db/sql.js";
import { migrate } from "../../lib/db/migrate.js";
import { createJobStore } from "../../lib/jobs/store.js";
import { freshPostgresDatabase } from "../../test/support/databases.js";
const db = await freshPostgresDatabase();
const sql = createSql(db.url, { max: 4 });
await migrate(sql);
const store = createJobStore(sql);
try {
  const base = { tenantId: "t", method: "m", capability: "crypto", batch: false, requestId: "r", traceparent: "" };
  const r = await Promise.all([
    store.submit({ ...base, requests: [new Uint8Array([1, 2])] }),
    store.submit({ ...base, requests: [new Uint8Array([3]), new Uint8Array([4])], idempotencyKey: "k" }),
    store.submit({ ...base, requests: [new Uint8Array([5])], idempotencyKey: "k" }),
  ]);
  console.log(r.map((x) => [x.job.id, x.created, x.job.total]));
  const r2 = await store.submit({ ...base, requests: [new Uint8Array([5])], idempotencyKey: "k" });
  console.log(r2.job.id, r2.created);
  console.log(await sql`select job_id, idx, encode(request,'hex') from job_items`);
} catch (e) { console.error(e); }
await sql.end(); await db.drop();
