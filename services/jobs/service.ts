/**
 * JobService: submit, read, cancel and watch jobs. Submit validates the method and every
 * request against the method's input type, commits the job with its outbox, then publishes its
 * tasks; a relay republishes whatever a crash left in the outbox (dedupe by task id keeps that
 * from running anything twice).
 */
import { create, fromBinary, type Registry } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { JobItemSchema, JobSchema, JobService, JobState, WatchJobResponseSchema, type WatchJobResponse } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import { check, invalidArgument } from "../../lib/runtime/errors.js";
import { requestIdKey, tenantKey } from "../../lib/runtime/context.js";
import type { Logger } from "../../lib/runtime/logger.js";
import type { JobBus, Task } from "../../lib/bus/types.js";
import { isFinal, itemMessage, type JobRow } from "../../lib/jobs/rows.js";
import type { JobStore } from "../../lib/jobs/store.js";
import { jobMessage } from "../../lib/jobs/messages.js";
import { decodeEventNotice, encodeEventNotice, topics } from "../../lib/jobs/topics.js";
import { secretKey, webhookUrlProblem } from "../../lib/jobs/webhooks.js";
import { findJobMethod } from "../catalog.js";

/** Options for createJobService. */
export interface JobServiceOptions {
  store: JobStore;
  bus: JobBus;
  logger: Logger;
  registry: Registry;
  /** Largest batch accepted. Default 100,000. */
  maxBatchItems?: number;
  /** Requests larger than this travel by reference (the worker loads them). Default 512 KiB. */
  inlineBytes?: number;
  /** Allow webhooks to private, loopback and link-local addresses (tests, on-prem). */
  allowPrivateWebhooks?: boolean;
}

const idPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function tenantOf(ctx: HandlerContext): string {
  return ctx.values.get(tenantKey) || "default";
}

/** Scopes forwarded by the gateway; a direct (trusted) caller has every scope. */
function scopesOf(ctx: HandlerContext): string[] {
  const raw = ctx.requestHeader.get("x-flowforge-scopes");
  return raw === null ? ["*"] : raw.split(",");
}

function checkJobId(id: string) {
  check(idPattern.test(id), "job_id", "must be a job id (a UUID)");
}

/** Creates the JobService implementation and its outbox relay. */
export function createJobService(o: JobServiceOptions): { impl: ServiceImpl<typeof JobService>; relay: { stop(): Promise<void> } } {
  const { store, bus } = o;
  const maxBatch = o.maxBatchItems ?? 100_000;
  const inline = o.inlineBytes ?? 512 * 1024;

  const toTask = (job: Pick<JobRow, "id" | "method" | "tenant_id" | "request_id" | "traceparent">, capability: string, index: number, request: Uint8Array): Task => ({
    capability,
    jobId: job.id,
    index,
    method: job.method,
    tenant: job.tenant_id,
    requestId: job.request_id,
    traceparent: job.traceparent,
    data: request.length <= inline ? request : new Uint8Array(),
  });

  // Published tasks leave the outbox in batches: one DELETE for many submits.
  let cleared: { jobId: string; index: number }[] = [];
  let clearing: Promise<void> | undefined;
  const clearSoon = () => {
    clearing ??= (async () => {
      await new Promise((r) => setTimeout(r, 5));
      while (cleared.length > 0) {
        const keys = cleared;
        cleared = [];
        await store.clearOutbox(keys).catch((err) => o.logger.warn({ err }, "outbox clear failed; the relay will republish (deduplicated)"));
      }
      clearing = undefined;
    })();
  };

  async function publishAndClear(tasks: Task[]) {
    await bus.publish(tasks);
    for (const t of tasks) cleared.push({ jobId: t.jobId, index: t.index });
    clearSoon();
  }

  // The relay: whatever is still in the outbox after a few seconds is published again.
  let relayStopped = false;
  let relayTimer: ReturnType<typeof setTimeout> | undefined;
  let relayRun: Promise<void> | undefined;
  const relay = async () => {
    try {
      for (;;) {
        const rows = await store.pendingOutbox(1000, 3000);
        if (rows.length === 0) break;
        const details = await store.tasksFor(rows.map((r) => ({ jobId: r.job_id, index: r.idx })));
        const subjects = new Map(rows.map((r) => [`${r.job_id}:${r.idx}`, r.subject]));
        await publishAndClear(details.map((d) => toTask({ ...d, id: d.job_id }, subjects.get(`${d.job_id}:${d.idx}`)!, d.idx, d.request)));
        o.logger.info({ tasks: details.length }, "outbox relayed");
        if (rows.length < 1000) break;
      }
    } catch (err) {
      o.logger.warn({ err }, "outbox relay failed; will retry");
    }
  };
  const relayLoop = () => {
    if (relayStopped) return;
    relayRun = relay().finally(() => {
      if (!relayStopped) relayTimer = setTimeout(relayLoop, 1000);
    });
  };
  relayLoop();

  const impl: ServiceImpl<typeof JobService> = {
    async submitJob(req, ctx) {
      const found = req.method ? findJobMethod(req.method) : undefined;
      if (!req.method) throw invalidArgument("method", "is required");
      if (!found) throw invalidArgument("method", `unknown method "${req.method}"; use the full name, e.g. flowforge.crypto.v1.CryptoService/Hash`);
      if (found.method.methodKind !== "unary") throw invalidArgument("method", "only unary methods run as jobs");
      const scopes = scopesOf(ctx);
      if (!scopes.includes("*") && !scopes.includes(found.capability)) {
        throw new ConnectError(`this API key lacks the "${found.capability}" scope`, Code.PermissionDenied);
      }
      const batch = req.items.length > 0;
      if (batch && req.request) throw invalidArgument("items", "set either request or items, not both");
      if (!batch && !req.request) throw invalidArgument("items", "one of request or items (a non-empty batch) is required");
      check(req.items.length <= maxBatch, "items", `at most ${maxBatch} items per batch, got ${req.items.length}`);
      check(req.idempotencyKey.length <= 200, "idempotency_key", "must be at most 200 characters");
      const expected = found.method.input.typeName;
      const anys: Any[] = batch ? req.items : [req.request!];
      const requests = anys.map((any, i) => {
        const field = batch ? `items[${i}]` : "request";
        const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
        if (type !== expected) throw invalidArgument(field, `must be a ${expected}, got ${type || "no type"}`);
        try {
          fromBinary(found.method.input, any.value);
        } catch (cause) {
          throw invalidArgument(field, `not a valid ${expected}`, cause);
        }
        return any.value;
      });
      if (req.webhook) {
        const problem = await webhookUrlProblem(req.webhook.url, o.allowPrivateWebhooks ?? false);
        if (problem) throw invalidArgument("webhook.url", problem);
        if (!secretKey(req.webhook.secret)) throw invalidArgument("webhook.secret", "must be whsec_ followed by base64 of 24 to 64 bytes");
      }
      const { job, created } = await store.submit({
        tenantId: tenantOf(ctx),
        method: `${found.service.typeName}/${found.method.name}`,
        capability: found.capability,
        batch,
        requests,
        idempotencyKey: req.idempotencyKey || undefined,
        webhook: req.webhook ? { url: req.webhook.url, secret: req.webhook.secret } : undefined,
        requestId: ctx.values.get(requestIdKey),
        traceparent: ctx.requestHeader.get("traceparent") ?? "",
      });
      if (created) {
        // Publish now; should this fail or the process die, the relay publishes from the outbox.
        await publishAndClear(requests.map((r, i) => toTask(job, found.capability, i, r))).catch((err) =>
          o.logger.warn({ err, job: job.id }, "publish failed; the outbox relay will retry"),
        );
      }
      return { job: jobMessage(job) };
    },

    async getJob(req, ctx) {
      checkJobId(req.jobId);
      const job = await store.get(tenantOf(ctx), req.jobId);
      if (!job) throw new ConnectError(`job ${req.jobId} not found`, Code.NotFound);
      const size = req.itemsPageSize === 0 ? 100 : req.itemsPageSize;
      check(size <= 1000, "items_page_size", "must be at most 1000");
      const from = req.itemsPageToken ? Number(Buffer.from(req.itemsPageToken, "base64url").toString()) : 0;
      check(Number.isInteger(from) && from >= 0, "items_page_token", "not a token from a previous page");
      const items = await store.items(job.id, from, size + 1);
      const resultType = findJobMethod(job.method)?.method.output.typeName ?? "";
      const message = create(JobSchema, jobMessage(job));
      message.items = items.slice(0, size).map((i) => create(JobItemSchema, itemMessage(i, resultType)));
      message.nextItemsPageToken = items.length > size ? Buffer.from(String(items[size].idx)).toString("base64url") : "";
      return { job: message };
    },

    async listJobs(req, ctx) {
      const size = req.pageSize === 0 ? 50 : req.pageSize;
      check(size >= 1 && size <= 500, "page_size", "must be between 1 and 500");
      const before = req.pageToken ? Buffer.from(req.pageToken, "base64url").toString() : undefined;
      check(before === undefined || /^\d{1,18}$/.test(before), "page_token", "not a token from a previous page");
      check(req.state === JobState.UNSPECIFIED || JobState[req.state] !== undefined, "state", `unknown state ${req.state}`);
      const rows = await store.list(tenantOf(ctx), { state: req.state || undefined, method: req.method || undefined, limit: size + 1, beforeSeq: before });
      return {
        jobs: rows.slice(0, size).map(jobMessage),
        nextPageToken: rows.length > size ? Buffer.from(rows[size - 1].seq).toString("base64url") : "",
      };
    },

    async cancelJob(req, ctx) {
      checkJobId(req.jobId);
      const { job, written } = await store.cancel(tenantOf(ctx), req.jobId);
      if (!job) throw new ConnectError(`job ${req.jobId} not found`, Code.NotFound);
      if (written) {
        bus.notify(topics.cancel(job.id), new Uint8Array());
        if (job.webhook_url) bus.notify(topics.webhookDue(job.id), new Uint8Array());
        bus.notify(topics.events(job.id), encodeEventNotice(written.events));
      }
      return { job: jobMessage(job) };
    },

    async *watchJob(req, ctx) {
      checkJobId(req.jobId);
      const job = await store.get(tenantOf(ctx), req.jobId);
      if (!job) throw new ConnectError(`job ${req.jobId} not found`, Code.NotFound);
      let after = Number(req.afterSequence);
      let wake: (() => void) | undefined;
      // Events that came with notifications, and whether the database may hold events not seen.
      let carried: WatchJobResponse[] = [];
      let stale = true;
      // A subscription per watch, so the bus only brings this process the events of jobs it
      // watches; in effect before the first read, so nothing written after that read is missed.
      const off = bus.subscribe(topics.events(job.id), (_topic, data) => {
        const events = decodeEventNotice(data);
        if (events.length > 0) carried.push(...events.map((e) => fromBinary(WatchJobResponseSchema, e)));
        else stale = true;
        wake?.();
      });
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      try {
        await bus.flush();
        for (;;) {
          const fresh = carried.filter((m) => Number(m.sequence) > after);
          carried = [];
          let messages: WatchJobResponse[] = [];
          if (fresh.length > 0 && fresh.every((m, i) => Number(m.sequence) === after + 1 + i)) {
            messages = fresh; // they follow on from the last one sent: no database read
          } else if (stale || fresh.length > 0) {
            const page = await store.events(job.id, after);
            stale = page.more;
            messages = page.events.map((e) => fromBinary(WatchJobResponseSchema, e.payload));
          }
          let finished = false;
          for (const msg of messages) {
            after = Number(msg.sequence);
            yield msg;
            if (msg.event.case === "stateChanged" && isFinal(msg.event.value.state)) finished = true;
          }
          if (finished) return;
          if (messages.length > 0 || carried.length > 0 || stale) continue;
          if (ctx.signal.aborted) return;
          // Wait for a notification; read anyway now and then in case one was lost.
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              stale = true;
              resolve();
            }, 1000);
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = undefined;
        }
      } finally {
        off();
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },
  };

  return {
    impl,
    relay: {
      async stop() {
        relayStopped = true;
        clearTimeout(relayTimer);
        await relayRun;
        await clearing;
      },
    },
  };
}
