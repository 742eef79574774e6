/**
 * Usage metering: calls, errors, bytes in and out and job items per key, method and UTC day,
 * summed in memory and written to PostgreSQL in batches (one statement per flush, every few
 * seconds or when many records are pending), never per call. A failed write keeps its sums for
 * the next flush.
 */
import type { Sql } from "#db/sql.js";
import { check } from "#runtime/errors.js";
import type { Logger } from "#runtime/logger.js";

/** One metered call. */
export interface UsageEvent {
  keyId: string;
  tenantId: string;
  method: string;
  ok: boolean;
  bytesIn: number;
  bytesOut: number;
  jobItems: number;
}

/** A stored record: one key, method and day. */
export interface UsageRecord {
  keyId: string;
  tenantId: string;
  method: string;
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  calls: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  jobItems: number;
}

/** What to read. */
export interface UsageFilter {
  tenantId?: string;
  keyId?: string;
  method?: string;
  startDay: string;
  endDay: string;
}

/** Options for createMeter. */
export interface MeterOptions {
  sql: Sql;
  logger: Logger;
  /** How often pending sums are written. Default 5 s. */
  flushMs?: number;
  /** Pending records that trigger a write at once. Default 5,000. */
  maxPending?: number;
}

/** Most records one query answers. */
export const maxUsageRecords = 10_000;

/** The meter the usage policy records into and the admin and account services read. */
export interface Meter {
  record(event: UsageEvent): void;
  /** Writes what is pending. */
  flush(): Promise<void>;
  /** Reads records (what is pending is written first), newest day first. */
  query(filter: UsageFilter): Promise<UsageRecord[]>;
  close(): Promise<void>;
}

interface Row {
  key_id: string;
  tenant_id: string;
  method: string;
  day: string;
  calls: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  job_items: number;
}

/** Creates a meter over the `usage` table. */
export function createMeter(options: MeterOptions): Meter {
  const { sql, logger } = options;
  const maxPending = options.maxPending ?? 5000;
  let pending = new Map<string, Row>();
  let writing: Promise<void> | undefined;

  const add = (into: Map<string, Row>, row: Row) => {
    const id = `${row.key_id}\u0000${row.method}\u0000${row.day}`;
    const sum = into.get(id);
    if (!sum) {
      into.set(id, { ...row });
      return;
    }
    sum.calls += row.calls;
    sum.errors += row.errors;
    sum.bytes_in += row.bytes_in;
    sum.bytes_out += row.bytes_out;
    sum.job_items += row.job_items;
  };

  async function write() {
    if (pending.size === 0) return;
    const rows = [...pending.values()];
    pending = new Map();
    try {
      await sql`
        INSERT INTO usage ${sql(rows, "key_id", "tenant_id", "method", "day", "calls", "errors", "bytes_in", "bytes_out", "job_items")}
        ON CONFLICT (key_id, method, day) DO UPDATE SET
          calls = usage.calls + EXCLUDED.calls,
          errors = usage.errors + EXCLUDED.errors,
          bytes_in = usage.bytes_in + EXCLUDED.bytes_in,
          bytes_out = usage.bytes_out + EXCLUDED.bytes_out,
          job_items = usage.job_items + EXCLUDED.job_items`;
    } catch (err) {
      // Kept for the next flush (bounded: beyond ten batches' worth the oldest sums are dropped).
      for (const row of rows) add(pending, row);
      while (pending.size > maxPending * 10) pending.delete(pending.keys().next().value!);
      logger.warn({ err, records: rows.length }, "usage not written; retrying at the next flush");
    }
  }

  function flush(): Promise<void> {
    // One write at a time; a flush asked for meanwhile waits for it, then writes what came since.
    writing = (writing ?? Promise.resolve()).then(write);
    return writing;
  }

  const timer = setInterval(() => void flush(), options.flushMs ?? 5000);
  timer.unref();

  return {
    record(e) {
      add(pending, {
        key_id: e.keyId,
        tenant_id: e.tenantId,
        method: e.method,
        day: new Date().toISOString().slice(0, 10),
        calls: 1,
        errors: e.ok ? 0 : 1,
        bytes_in: e.bytesIn,
        bytes_out: e.bytesOut,
        job_items: e.jobItems,
      });
      if (pending.size >= maxPending) void flush();
    },
    flush,
    async query(f) {
      await flush();
      const rows = await sql<Row[]>`
        SELECT key_id, tenant_id, method, to_char(day, 'YYYY-MM-DD') AS day,
               calls::float8 AS calls, errors::float8 AS errors, bytes_in::float8 AS bytes_in,
               bytes_out::float8 AS bytes_out, job_items::float8 AS job_items
        FROM usage
        WHERE day BETWEEN ${f.startDay}::date AND ${f.endDay}::date
          ${f.tenantId ? sql`AND tenant_id = ${f.tenantId}` : sql``}
          ${f.keyId ? sql`AND key_id = ${f.keyId}` : sql``}
          ${f.method ? sql`AND method = ${f.method}` : sql``}
        ORDER BY day DESC, tenant_id, key_id, method
        LIMIT ${maxUsageRecords}`;
      return rows.map((r) => ({
        keyId: r.key_id,
        tenantId: r.tenant_id,
        method: r.method,
        day: r.day,
        calls: r.calls,
        errors: r.errors,
        bytesIn: r.bytes_in,
        bytesOut: r.bytes_out,
        jobItems: r.job_items,
      }));
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;
const msPerDay = 86_400_000;

/** A request's days and filters as a UsageFilter: end defaults to today, start to 30 days before it; at most 366 days. */
export function usageFilter(req: { startDay: string; endDay: string; method: string; keyId: string }): UsageFilter {
  const day = (field: string, text: string) => {
    const t = Date.parse(`${text}T00:00:00Z`);
    check(
      dayPattern.test(text) && !Number.isNaN(t) && new Date(t).toISOString().startsWith(text),
      field,
      "must be a day as YYYY-MM-DD",
    );
    return t;
  };
  const end = req.endDay
    ? day("end_day", req.endDay)
    : Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
  const start = req.startDay ? day("start_day", req.startDay) : end - 30 * msPerDay;
  check(start <= end, "start_day", "must not be after end_day");
  check(end - start <= 366 * msPerDay, "start_day", "must be at most 366 days before end_day");
  const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
  return { startDay: iso(start), endDay: iso(end), method: req.method || undefined, keyId: req.keyId || undefined };
}

/** Records as `flowforge.common.v1.Usage` fields (its counters are uint64). */
export function usageMessages(records: UsageRecord[]) {
  return records.map((r) => ({
    ...r,
    calls: BigInt(r.calls),
    errors: BigInt(r.errors),
    bytesIn: BigInt(r.bytesIn),
    bytesOut: BigInt(r.bytesOut),
    jobItems: BigInt(r.jobItems),
  }));
}
