/**
 * JobService: submit, read, cancel and watch jobs. Submit validates the method and every
 * request against the method's input type, commits the job with an outbox row (shared by the
 * jobs written in the same statement), then publishes its tasks; a relay republishes the queued
 * tasks of jobs whose outbox row a crash left behind (dedupe by task id keeps that from running
 * anything twice).
 */
import type { FoundMethod } from "#capability/index.js";
import { create, fromBinary, type Registry } from "@bufbuild/protobuf";
import { type Any, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  JobItemSchema,
  JobSchema,
  type JobService,
  JobState,
  WatchJobResponseSchema,
  type WatchJobResponse,
} from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { decodePageToken, encodePageToken } from "#runtime/page-token.js";
import { requestIdKey, tenantKey } from "#runtime/context.js";
import type { Logger } from "#runtime/logger.js";
import type { JobBus, Task } from "#bus/types.js";
import { isFinal, itemMessage, type JobRow, type NewJob, requestFingerprint } from "#jobs/rows.js";
import type { JobStore } from "#jobs/store.js";
import { jobMessage } from "#jobs/messages.js";
import { decodeEventNotice, encodeEventNotice, topics } from "#jobs/topics.js";
import { secretKey, webhookUrlProblem } from "#jobs/webhooks.js";
import type { PrivateTargets } from "#jobs/webhook-target.js";
import { activeTraceparent } from "#runtime/telemetry.js";

/** Options for createJobService. */
export interface JobServiceOptions {
  store: JobStore;
  bus: JobBus;
  logger: Logger;
  registry: Registry;
  /** Finds a method that may run as a job, by its full name (`pkg.Service/Method`). */
  findMethod: (fullName: string) => FoundMethod | undefined;
  /** Largest batch accepted (`MAX_BATCH_ITEMS`, default in lib/config). */
  maxBatchItems: number;
  /** Requests larger than this travel by reference (the worker loads them). Default 512 KiB. */
  inlineBytes?: number;
  /** Webhooks to private, loopback and link-local addresses: none (default), all, or inside these CIDR blocks. */
  allowPrivateWebhooks?: PrivateTargets;
  /** The outbox relay's timings. @default relayDefaults */
  relay?: Partial<typeof relayDefaults>;
  /**
   * Publish the queued items of every unfinished job once at start. Set when the bus keeps
   * nothing across a restart (the in-process bus): PostgreSQL is the truth, so work a crash
   * took out of the bus is found there and run. Default false (JetStream keeps its tasks).
   */
  recoverOnStart?: boolean;
}

const idPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function tenantOf(ctx: HandlerContext): string {
  return ctx.values.get(tenantKey) || "default";
}

/** Scopes forwarded by the gateway; a call without the header has none (it did not come through the gateway). */
function scopesOf(ctx: HandlerContext): string[] {
  return ctx.requestHeader.get("x-flowforge-scopes")?.split(",") ?? [];
}

/** Refuses a caller whose key holds none of the scopes of the method's capability (`found.scopes`). */
function checkScope(ctx: HandlerContext, found: FoundMethod) {
  const held = scopesOf(ctx);
  if (!held.includes("*") && !found.scopes.some((s) => held.includes(s)))
    throw new ConnectError(`this API key lacks the "${found.scopes[0]}" scope`, Code.PermissionDenied);
}

function checkJobId(id: string) {
  check(idPattern.test(id), "job_id", "must be a job id (a UUID)");
}

/** The outbox relay: rows older than `ageMs` are relayed, a pass every `everyMs`, `rowsPerPass` rows and `pageSize` tasks at a time. */
export const relayDefaults = { ageMs: 3000, everyMs: 1000, rowsPerPass: 100, pageSize: 1000 };

/** Creates the JobService implementation and its outbox relay. */
export function createJobService(o: JobServiceOptions): {
  impl: ServiceImpl<typeof JobService>;
  relay: { stop(): Promise<void> };
} {
  const { store, bus } = o;
  const maxBatch = o.maxBatchItems;
  const relayTimes = { ...relayDefaults, ...o.relay };
  const inline = o.inlineBytes ?? 512 * 1024;

  const toTask = (
    job: Pick<JobRow, "id" | "method" | "tenant_id" | "request_id" | "traceparent">,
    capability: string,
    index: number,
    request: Uint8Array,
  ): Task => ({
    capability,
    jobId: job.id,
    index,
    method: job.method,
    tenant: job.tenant_id,
    requestId: job.request_id,
    traceparent: job.traceparent,
    data: request.length <= inline ? request : new Uint8Array(),
  });

  // An outbox row is cleared once every job written with it has published its tasks; the
  // deletes go in batches (one statement for many rows).
  const unpublished = new Map<string, { left: number; failed: boolean }>();
  let cleared: string[] = [];
  let clearing: Promise<void> | undefined;
  const clearSoon = () => {
    clearing ??= (async () => {
      await new Promise((r) => setTimeout(r, 5));
      while (cleared.length > 0) {
        const ids = cleared;
        cleared = [];
        await store
          .clearOutbox(ids)
          .catch((err) => o.logger.warn({ err }, "outbox clear failed; the relay will republish (deduplicated)"));
      }
      clearing = undefined;
    })();
  };
  /** Counts one job of an outbox row as published, or as failed to (the relay then publishes the row's jobs). */
  function settle(outbox: { id: string; jobs: number }, published: boolean) {
    const entry = unpublished.get(outbox.id) ?? { left: outbox.jobs, failed: false };
    entry.left--;
    entry.failed ||= !published;
    if (entry.left > 0) {
      unpublished.set(outbox.id, entry);
      return;
    }
    unpublished.delete(outbox.id);
    if (!entry.failed) {
      cleared.push(outbox.id);
      clearSoon();
    }
  }

  // The relay: the queued tasks of jobs whose outbox row is still there after a few seconds are
  // published again (a task that was published already is dropped by the bus's dedupe).
  let relayStopped = false;
  let relayTimer: ReturnType<typeof setTimeout> | undefined;
  let relayRun: Promise<void> | undefined;
  const relayRow = async (jobIds: string[]) => {
    let after: { jobId: string; index: number } | undefined;
    let sent = 0;
    for (;;) {
      const page = await store.queuedTasks(jobIds, relayTimes.pageSize, after);
      const tasks = page.flatMap((d) => {
        const found = o.findMethod(d.method);
        if (found) return [toTask({ ...d, id: d.job_id }, found.capability, d.idx, d.request)];
        o.logger.warn({ job: d.job_id, method: d.method }, "queued task of a method no longer served; not published");
        return [];
      });
      if (tasks.length > 0) await bus.publish(tasks);
      sent += tasks.length;
      if (page.length < relayTimes.pageSize) return sent;
      after = { jobId: page[page.length - 1].job_id, index: page[page.length - 1].idx };
    }
  };
  const relay = async () => {
    try {
      for (;;) {
        const rows = await store.pendingOutbox(relayTimes.rowsPerPass, relayTimes.ageMs);
        for (const row of rows) {
          const tasks = await relayRow(row.job_ids);
          await store.clearOutbox([row.id]);
          o.logger.info({ jobs: row.job_ids.length, tasks }, "outbox relayed");
        }
        if (rows.length < relayTimes.rowsPerPass) break;
      }
    } catch (err) {
      o.logger.warn({ err }, "outbox relay failed; will retry");
    }
  };
  // Start-up recovery: every queued item of every unfinished job, published again (the bus's
  // dedupe drops what a concurrent submit or the relay already sent; a worker skips an item that
  // is no longer queued). Retried until it has gone through once.
  const recover = async () => {
    let after = "";
    let tasks = 0;
    let jobs = 0;
    for (;;) {
      const ids = await o.store.unfinishedJobIds(100, after);
      for (const id of ids) tasks += await relayRow([id]);
      jobs += ids.length;
      if (ids.length < 100) break;
      after = ids[ids.length - 1];
    }
    if (jobs > 0) o.logger.info({ jobs, tasks }, "unfinished jobs recovered: queued items published again");
  };
  let recovered = !o.recoverOnStart;
  const relayLoop = () => {
    if (relayStopped) return;
    relayRun = (async () => {
      if (!recovered) {
        try {
          await recover();
          recovered = true;
        } catch (err) {
          o.logger.warn({ err }, "start-up recovery failed; will retry");
        }
      }
      await relay();
    })().finally(() => {
      if (!relayStopped) relayTimer = setTimeout(relayLoop, relayTimes.everyMs);
    });
  };
  relayLoop();

  /** Publishes a new job's tasks; should this fail or the process die, the relay publishes from the outbox. */
  async function publish(
    job: JobRow,
    capability: string,
    requests: Uint8Array[],
    outbox: { id: string; jobs: number },
  ) {
    try {
      await bus.publish(requests.map((r, i) => toTask(job, capability, i, r)));
      settle(outbox, true);
    } catch (err) {
      settle(outbox, false);
      o.logger.warn({ err, job: job.id }, "publish failed; the outbox relay will retry");
    }
  }

  const impl: ServiceImpl<typeof JobService> = {
    async submitJob(req, ctx) {
      const found = req.method ? o.findMethod(req.method) : undefined;
      if (!req.method) throw invalidArgument("method", "is required");
      if (!found)
        throw invalidArgument(
          "method",
          `unknown method "${req.method}"; use the full name, e.g. flowforge.crypto.v1.CryptoService/Hash`,
        );
      if (found.method.methodKind !== "unary") throw invalidArgument("method", "only unary methods run as jobs");
      checkScope(ctx, found);
      const batch = req.items.length > 0;
      if (batch && req.request) throw invalidArgument("items", "set either request or items, not both");
      if (!batch && !req.request)
        throw invalidArgument("items", "one of request or items (a non-empty batch) is required");
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
        if (!secretKey(req.webhook.secret))
          throw invalidArgument("webhook.secret", "must be whsec_ followed by base64 of 24 to 64 bytes");
      }
      const submit: NewJob = {
        tenantId: tenantOf(ctx),
        method: `${found.service.typeName}/${found.method.name}`,
        capability: found.capability,
        batch,
        requests,
        idempotencyKey: req.idempotencyKey || undefined,
        webhook: req.webhook ? { url: req.webhook.url, secret: req.webhook.secret } : undefined,
        requestId: ctx.values.get(requestIdKey),
        // The job's items and its webhook continue this call's trace.
        traceparent: activeTraceparent(ctx.requestHeader.get("traceparent") ?? ""),
      };
      // Hashed once: written with the job, and compared with the job that holds the key.
      if (submit.idempotencyKey) submit.requestHash = requestFingerprint(submit);
      const { job, created, outbox } = await store.submit(submit);
      // A key reused with another request is a mistake of the caller's, not a retry (as Stripe and
      // the IETF Idempotency-Key draft have it): refuse it rather than answer with the first job.
      if (!created && job.request_hash !== null && job.request_hash !== submit.requestHash)
        throw invalidArgument(
          "idempotency_key",
          `was already used for a different request (job ${job.id}); send the same request to get that job, or use a new key`,
        );
      if (created && outbox) await publish(job, found.capability, requests, outbox);
      return { job: jobMessage(job) };
    },

    async retryJob(req, ctx) {
      checkJobId(req.jobId);
      // Filled in when a new job is made (the source row locked): what publishing it needs.
      let requests: Uint8Array[] = [];
      let capability = "";
      const { source, submitted, refused } = await store.retry(tenantOf(ctx), req.jobId, (job, items) => {
        const found = o.findMethod(job.method);
        if (!found)
          throw new ConnectError(`the job's method ${job.method} is no longer served`, Code.FailedPrecondition);
        checkScope(ctx, found);
        requests = items.map((i) => i.request);
        capability = found.capability;
        return {
          tenantId: job.tenant_id,
          method: job.method,
          capability,
          batch: job.batch,
          requests,
          webhook:
            job.webhook_url && job.webhook_secret ? { url: job.webhook_url, secret: job.webhook_secret } : undefined,
          requestId: ctx.values.get(requestIdKey),
          traceparent: activeTraceparent(ctx.requestHeader.get("traceparent") ?? ""),
          retryOf: { jobId: job.id, indexes: items.map((i) => i.idx) },
        };
      });
      if (!source) throw new ConnectError(`job ${req.jobId} not found`, Code.NotFound);
      if (refused === "unfinished")
        throw new ConnectError(
          `job ${req.jobId} is ${JobState[source.state].toLowerCase()}: retry it once it has finished`,
          Code.FailedPrecondition,
        );
      if (refused === "nothing")
        throw new ConnectError(
          `job ${req.jobId} has no failed, dead-lettered or cancelled items to retry`,
          Code.FailedPrecondition,
        );
      const { job, created, outbox } = submitted!;
      if (created && outbox) await publish(job, capability, requests, outbox);
      return { job: jobMessage(job) };
    },

    async getJob(req, ctx) {
      checkJobId(req.jobId);
      const job = await store.get(tenantOf(ctx), req.jobId);
      if (!job) throw new ConnectError(`job ${req.jobId} not found`, Code.NotFound);
      const size = req.itemsPageSize === 0 ? 100 : req.itemsPageSize;
      check(size <= 1000, "items_page_size", "must be at most 1000");
      const from = req.itemsPageToken
        ? Number(decodePageToken(req.itemsPageToken, "items", "items_page_token", 2n ** 31n - 1n))
        : 0;
      const items = await store.items(job.id, from, size + 1);
      const resultType = o.findMethod(job.method)?.method.output.typeName ?? "";
      const message = create(JobSchema, jobMessage(job));
      message.items = items.slice(0, size).map((i) => create(JobItemSchema, itemMessage(i, resultType)));
      message.nextItemsPageToken = items.length > size ? encodePageToken("items", items[size].idx) : "";
      return { job: message };
    },

    async listJobs(req, ctx) {
      const size = req.pageSize === 0 ? 50 : req.pageSize;
      check(size >= 1 && size <= 500, "page_size", "must be between 1 and 500");
      const before = req.pageToken ? String(decodePageToken(req.pageToken, "jobs", "page_token")) : undefined;
      check(
        req.state === JobState.UNSPECIFIED || JobState[req.state] !== undefined,
        "state",
        `unknown state ${req.state}`,
      );
      const createdAfter = req.createdAfter ? timestampDate(req.createdAfter) : undefined;
      const createdBefore = req.createdBefore ? timestampDate(req.createdBefore) : undefined;
      if (createdAfter && createdBefore)
        check(createdAfter < createdBefore, "created_before", "must be later than created_after");
      const rows = await store.list(tenantOf(ctx), {
        state: req.state || undefined,
        method: req.method || undefined,
        createdAfter,
        createdBefore,
        limit: size + 1,
        beforeSeq: before,
      });
      return {
        jobs: rows.slice(0, size).map(jobMessage),
        nextPageToken: rows.length > size ? encodePageToken("jobs", rows[size - 1].seq) : "",
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
