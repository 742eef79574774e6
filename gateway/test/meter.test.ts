/** Usage metering: sums per key, method and day, written in batches, read back with filters. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createLogger } from "#runtime/logger.js";
import { migrate } from "#db/migrate.js";
import { pgliteDatabase, type TestDatabase } from "#test/support/databases.js";
import { failure } from "#test/support/in-process.js";
import { createMeter, usageFilter } from "../usage/meter.js";
import { waitFor } from "#test/support/until.js";

const logger = createLogger({ name: "test", level: "silent" });
let db: TestDatabase;
beforeAll(async () => {
  db = await pgliteDatabase();
  await migrate(db.sql);
});
afterAll(() => db?.close());

const today = new Date().toISOString().slice(0, 10);
const event = (keyId: string, method: string, ok = true) => ({
  keyId,
  tenantId: `tenant-of-${keyId}`,
  method,
  ok,
  bytesIn: 10,
  bytesOut: 100,
  jobItems: method.endsWith("SubmitJob") ? 3 : 0,
});

describe("the meter", () => {
  it("sums calls in memory and writes them only when flushed (or when many are pending)", async () => {
    const meter = createMeter({ sql: db.sql, logger, flushMs: 60_000, maxPending: 1000 });
    for (let i = 0; i < 500; i++) meter.record(event("k1", "svc/Hash", i % 10 !== 0));
    meter.record(event("k1", "jobs/SubmitJob"));
    meter.record(event("k2", "svc/Hash"));
    const [{ n }] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage`;
    expect(n).toBe(0); // nothing written per call
    await meter.flush();
    const rows = await db.sql<{ key_id: string; method: string; calls: string; errors: string; bytes_in: string }[]>`
      SELECT key_id, method, calls::text, errors::text, bytes_in::text FROM usage ORDER BY key_id, method`;
    expect(rows).toEqual([
      { key_id: "k1", method: "jobs/SubmitJob", calls: "1", errors: "0", bytes_in: "10" },
      { key_id: "k1", method: "svc/Hash", calls: "500", errors: "50", bytes_in: "5000" },
      { key_id: "k2", method: "svc/Hash", calls: "1", errors: "0", bytes_in: "10" },
    ]);
    // Later flushes add to the day's record.
    meter.record(event("k1", "svc/Hash"));
    const read = await meter.query({ ...usageFilter({ startDay: "", endDay: "", method: "svc/Hash", keyId: "k1" }) });
    expect(read).toEqual([
      {
        keyId: "k1",
        tenantId: "tenant-of-k1",
        method: "svc/Hash",
        day: today,
        calls: 501,
        errors: 50,
        bytesIn: 5010,
        bytesOut: 50_100,
        jobItems: 0,
      },
    ]);
    expect(
      (
        await meter.query({
          ...usageFilter({ startDay: "", endDay: "", method: "", keyId: "" }),
          tenantId: "tenant-of-k2",
        })
      ).map((r) => r.keyId),
    ).toEqual(["k2"]);
    await meter.close();
  });

  it("a full batch is written without waiting for the timer", async () => {
    const meter = createMeter({ sql: db.sql, logger, flushMs: 60_000, maxPending: 3 });
    for (const k of ["x1", "x2", "x3"]) meter.record(event(k, "svc/Hash"));
    // The timer is a minute away: only the full batch can have written them.
    const count = async () =>
      (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage WHERE key_id LIKE 'x%'`)[0].n;
    await waitFor(async () => (await count()) === 3, {
      what: "three usage rows",
      detail: async () => `${await count()}`,
    });
    await meter.close();
  });

  it("days are read as YYYY-MM-DD, at most 366 apart, start not after end", async () => {
    expect(usageFilter({ startDay: "2026-01-01", endDay: "2026-01-31", method: "", keyId: "" })).toEqual({
      startDay: "2026-01-01",
      endDay: "2026-01-31",
      method: undefined,
      keyId: undefined,
    });
    const bad = async (startDay: string, endDay: string) =>
      failure((async () => usageFilter({ startDay, endDay, method: "", keyId: "" }))());
    expect(await bad("2026-02-30", "")).toMatchObject({ code: Code.InvalidArgument, fields: ["start_day"] });
    expect(await bad("", "yesterday")).toMatchObject({ fields: ["end_day"] });
    expect(await bad("2026-03-01", "2026-02-01")).toMatchObject({ fields: ["start_day"] });
    expect(await bad("2024-01-01", "2026-01-01")).toMatchObject({ fields: ["start_day"] });
  });
});
