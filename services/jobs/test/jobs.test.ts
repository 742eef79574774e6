/**
 * Jobs through the gateway on the embedded mesh (`npm start` as is: PGlite, the in-process bus,
 * workers in the crypto process on the jobs process's bus): submit, watch, get, list, cancel, idempotency, webhooks, and
 * every bad input the issue names.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "#test/support/until.js";
import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  HashAlgorithm,
  HashRequestSchema,
  HashResponseSchema,
  HashPasswordRequestSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { AdminService } from "#gen/flowforge/admin/v1/admin_pb.js";
import { ItemState, JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";
import { connectClient, errorOf, grpcWebClient } from "#test/support/clients.js";
import { pack, watchAll } from "#test/support/jobs.js";

let mesh: Mesh;
let jobs: ReturnType<typeof connectClient<typeof JobService>>;
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

beforeAll(async () => {
  mesh = await startMesh({ FLOWFORGE_WEBHOOK_ALLOW_PRIVATE: "1", MAX_BATCH_ITEMS: "2000" });
  jobs = connectClient(JobService, mesh.url, mesh.adminKey);
});
afterAll(() => mesh?.stop());

const hashItems = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: `item-${i}` } }),
  );

describe("a batch through the gateway", () => {
  it("fans out, streams every event in order, and stores every result once", async () => {
    const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(50) });
    expect(job!.state).toBe(JobState.QUEUED);
    expect(job!.counts!.total).toBe(50);
    const events = await watchAll(jobs, job!.id);
    expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
    expect(events[0].event).toMatchObject({ case: "stateChanged", value: { state: JobState.QUEUED } });
    const last = events[events.length - 1];
    expect(last.event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.SUCCEEDED, counts: { total: 50, succeeded: 50 } },
    });
    const finished = events
      .filter((e) => e.event.case === "itemFinished")
      .map((e) => (e.event.case === "itemFinished" ? e.event.value.item! : undefined)!);
    expect(finished.map((i) => i.index).sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
    for (const item of finished) {
      expect(anyUnpack(item.result!, HashResponseSchema)!.digest).toBe(sha(`item-${item.index}`));
    }
    const got = await jobs.getJob({ jobId: job!.id, itemsPageSize: 20 });
    expect(got.job!.state).toBe(JobState.SUCCEEDED);
    expect(got.job!.items.map((i) => i.index)).toEqual([...Array(20).keys()]);
    const page2 = await jobs.getJob({ jobId: job!.id, itemsPageSize: 40, itemsPageToken: got.job!.nextItemsPageToken });
    expect(page2.job!.items.map((i) => i.index)).toEqual([...Array(30).keys()].map((i) => i + 20));
    expect(page2.job!.nextItemsPageToken).toBe("");
  });

  it("a single request, watched over gRPC-Web as a browser would", async () => {
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      request: pack(HashRequestSchema, { algorithm: HashAlgorithm.MD5, input: { case: "text", value: "abc" } }),
    });
    const events = await watchAll(grpcWebClient(JobService, mesh.url, mesh.adminKey), job!.id);
    const done = events.find((e) => e.event.case === "itemFinished");
    expect(
      done?.event.case === "itemFinished" && anyUnpack(done.event.value.item!.result!, HashResponseSchema)!.digest,
    ).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect((await jobs.getJob({ jobId: job!.id })).job!.batch).toBe(false);
  });

  it("WatchJob also streams over gRPC (HTTP/2) through the gateway", async () => {
    const grpcJobs = createClient(
      JobService,
      createGrpcTransport({
        baseUrl: mesh.url,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${mesh.adminKey}`);
            return next(req);
          },
        ],
      }),
    );
    const { job } = await grpcJobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(5) });
    const events = await watchAll(grpcJobs, job!.id);
    expect(events.filter((e) => e.event.case === "itemFinished")).toHaveLength(5);
    expect(events[events.length - 1].event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.SUCCEEDED },
    });
  });

  it("a watcher that reconnects with its last sequence resumes without gaps", async () => {
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/HashPassword",
      items: Array.from({ length: 12 }, () =>
        pack(HashPasswordRequestSchema, { password: "p", params: { memoryKib: 8192, iterations: 1 } }),
      ),
    });
    const first = await watchAll(jobs, job!.id, 0n, 4);
    expect(first).toHaveLength(4);
    const rest = await watchAll(jobs, job!.id, first[3].sequence);
    const all = [...first, ...rest].map((e) => Number(e.sequence));
    expect(all).toEqual(all.map((_, i) => i + 1));
    expect(rest[rest.length - 1].event).toMatchObject({ case: "stateChanged", value: { state: JobState.SUCCEEDED } });
  });

  it("a final error is not retried: the item fails with the handler's field violation", async () => {
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: [pack(HashRequestSchema, { input: { case: "text", value: "no algorithm" } }), ...hashItems(1)],
    });
    await watchAll(jobs, job!.id);
    const got = (await jobs.getJob({ jobId: job!.id })).job!;
    expect(got.state).toBe(JobState.FAILED);
    expect(got.counts).toMatchObject({ total: 2, succeeded: 1, failed: 1 });
    const bad = got.items[0];
    expect(bad).toMatchObject({ state: ItemState.FAILED, attempts: 1 });
    expect(bad.error!.code).toBe(Code.InvalidArgument);
    expect(bad.error!.message).toBe("algorithm: is required");
    expect(anyUnpack(bad.error!.details[0], BadRequestSchema)!.fieldViolations[0].field).toBe("algorithm");
  });
});

describe("idempotency, listing and tenants", () => {
  it("a retried submit with the same idempotency key returns the same job", async () => {
    const req = { method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(3), idempotencyKey: "order-42" };
    const [a, b] = await Promise.all([jobs.submitJob(req), jobs.submitJob(req)]);
    const c = await jobs.submitJob(req);
    expect(b.job!.id).toBe(a.job!.id);
    expect(c.job!.id).toBe(a.job!.id);
  });

  it("an idempotency key reused with a different request is refused naming idempotency_key; the same request still gets its job", async () => {
    const first = { method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(2), idempotencyKey: "order-43" };
    const { job } = await jobs.submitJob(first);
    for (const other of [
      { ...first, items: hashItems(3) },
      { ...first, items: [], request: first.items[0] },
      { ...first, items: [first.items[1], first.items[0]] },
    ]) {
      const err = await errorOf(jobs.submitJob(other));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("idempotency_key");
      expect(err.rawMessage).toContain(job!.id);
    }
    expect((await jobs.submitJob(first)).job!.id).toBe(job!.id);
    // Another tenant's same key is its own.
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const other = connectClient(
      JobService,
      mesh.url,
      (await admin.createApiKey({ tenantId: "tenant-idem", scopes: ["*"] })).secret,
    );
    expect((await other.submitJob({ ...first, items: hashItems(3) })).job!.id).not.toBe(job!.id);
  });

  it("lists only the caller's tenant, filtered and paged; another tenant's job is not found", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const keyA = (await admin.createApiKey({ tenantId: "tenant-a", scopes: ["jobs", "crypto"] })).secret;
    const keyB = (await admin.createApiKey({ tenantId: "tenant-b", scopes: ["jobs", "crypto"] })).secret;
    const a = connectClient(JobService, mesh.url, keyA);
    const b = connectClient(JobService, mesh.url, keyB);
    const made: string[] = [];
    for (let i = 0; i < 3; i++)
      made.push((await a.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(1) })).job!.id);
    await b.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(1) });
    const page1 = await a.listJobs({ pageSize: 2 });
    expect(page1.jobs.map((j) => j.id)).toEqual([made[2], made[1]]);
    const page2 = await a.listJobs({ pageSize: 2, pageToken: page1.nextPageToken });
    expect(page2.jobs.map((j) => j.id)).toEqual([made[0]]);
    expect((await b.listJobs({})).jobs.map((j) => j.id)).not.toContain(made[0]);
    // Forged or foreign page tokens are invalid_argument naming the field, never internal.
    const b64 = (s: string) => Buffer.from(s).toString("base64url");
    for (const token of [
      b64("1e300"),
      b64("items:1"),
      b64("jobs:99999999999999999999"),
      b64("jobs:-1"),
      "%%%",
      `${page1.nextPageToken}x`,
    ]) {
      const err = await errorOf(a.listJobs({ pageToken: token }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("page_token");
    }
    for (const token of [b64("1e300"), b64("items:2147483648"), b64("jobs:1"), page1.nextPageToken]) {
      const err = await errorOf(a.getJob({ jobId: made[0], itemsPageToken: token }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("items_page_token");
    }
    expect((await a.listJobs({ method: "flowforge.crypto.v1.CryptoService/Hmac" })).jobs).toEqual([]);
    // By submit time: from the second job's, before the third's.
    const [second, third] = await Promise.all([a.getJob({ jobId: made[1] }), a.getJob({ jobId: made[2] })]);
    const window = await a.listJobs({ createdAfter: second.job!.createTime, createdBefore: third.job!.createTime });
    expect(window.jobs.map((j) => j.id)).toEqual(
      second.job!.createTime!.seconds === third.job!.createTime!.seconds &&
        second.job!.createTime!.nanos === third.job!.createTime!.nanos
        ? []
        : [made[1]],
    );
    expect((await a.listJobs({ createdAfter: third.job!.createTime })).jobs.map((j) => j.id)).toEqual([made[2]]);
    const backwards = await errorOf(
      a.listJobs({ createdAfter: third.job!.createTime, createdBefore: second.job!.createTime }),
    );
    expect(backwards.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("created_before");
    for (const call of [
      () => b.getJob({ jobId: made[0] }),
      () => b.cancelJob({ jobId: made[0] }),
      () => watchAll(b, made[0]),
    ]) {
      expect((await errorOf(call())).code).toBe(Code.NotFound);
    }
  });

  it("a key without the target capability's scope cannot run it as a job", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const key = (await admin.createApiKey({ tenantId: "tenant-c", scopes: ["jobs"] })).secret;
    const err = await errorOf(
      connectClient(JobService, mesh.url, key).submitJob({
        method: "flowforge.crypto.v1.CryptoService/Hash",
        items: hashItems(1),
      }),
    );
    expect(err.code).toBe(Code.PermissionDenied);
  });
});

describe("bad input: precise errors, nothing half-written", () => {
  const violation = async (call: Promise<unknown>) => {
    const err = await errorOf(call);
    expect(err.code).toBe(Code.InvalidArgument);
    return err.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field;
  };

  it("refuses unknown methods, wrong types, empty and over-size batches, bad webhooks", async () => {
    const before = (await jobs.listJobs({ pageSize: 500 })).jobs.length;
    expect(
      await violation(jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Nope", items: hashItems(1) })),
    ).toBe("method");
    expect(await violation(jobs.submitJob({ method: "Nope", items: hashItems(1) }))).toBe("method");
    expect(
      await violation(jobs.submitJob({ method: "flowforge.jobs.v1.JobService/SubmitJob", items: hashItems(1) })),
    ).toBe("method");
    expect(
      await violation(jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hmac", items: hashItems(2) })),
    ).toBe("items[0]");
    expect(await violation(jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items: [] }))).toBe(
      "items",
    );
    expect(
      await violation(jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items: hashItems(2001) })),
    ).toBe("items");
    const secret = `whsec_${Buffer.alloc(32, 1).toString("base64")}`;
    expect(
      await violation(
        jobs.submitJob({
          method: "flowforge.crypto.v1.CryptoService/Hash",
          items: hashItems(1),
          webhook: { url: "ftp://example.com/x", secret },
        }),
      ),
    ).toBe("webhook.url");
    expect(
      await violation(
        jobs.submitJob({
          method: "flowforge.crypto.v1.CryptoService/Hash",
          items: hashItems(1),
          webhook: { url: "https://example.com/x", secret: "short" },
        }),
      ),
    ).toBe("webhook.secret");
    expect(await violation(jobs.getJob({ jobId: "not-a-uuid" }))).toBe("job_id");
    expect((await jobs.listJobs({ pageSize: 500 })).jobs.length).toBe(before);
  });

  it("the JSON form with @type works, and a mismatched @type names the item", async () => {
    const post = (body: unknown) =>
      fetch(`${mesh.url}/flowforge.jobs.v1.JobService/SubmitJob`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
        body: JSON.stringify(body),
      });
    const ok = await post({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: [
        {
          "@type": "type.googleapis.com/flowforge.crypto.v1.HashRequest",
          algorithm: "HASH_ALGORITHM_SHA256",
          text: "abc",
        },
      ],
    });
    expect(ok.status).toBe(200);
    expect((await ok.json()).job.counts.total).toBe(1);
    const bad = await post({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: [
        {
          "@type": "type.googleapis.com/flowforge.crypto.v1.HmacRequest",
          algorithm: "HASH_ALGORITHM_SHA256",
          text: "abc",
        },
      ],
    });
    const err = await bad.json();
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toMatch(/^items\[0\]: must be a flowforge.crypto.v1.HashRequest/);
  });
});

describe("cancel", () => {
  it("stops the job at once: queued items never start, nothing finishes afterwards", async () => {
    const slow = Array.from({ length: 400 }, () =>
      pack(HashPasswordRequestSchema, { password: "p", params: { memoryKib: 65_536, iterations: 3 } }),
    );
    const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/HashPassword", items: slow });
    const seen = await watchAll(jobs, job!.id, 0n, 4); // started and a few items done
    expect(seen.length).toBe(4);
    const cancelled = await jobs.cancelJob({ jobId: job!.id });
    expect(cancelled.job!.state).toBe(JobState.CANCELLED);
    const cancelledAt = Date.now();
    const after = await jobs.getJob({ jobId: job!.id, itemsPageSize: 1000 });
    await new Promise((r) => setTimeout(r, 1500));
    const later = await jobs.getJob({ jobId: job!.id, itemsPageSize: 1000 });
    expect(later.job!.counts).toEqual(after.job!.counts);
    expect(later.job!.counts!.cancelled).toBeGreaterThan(300);
    expect(later.job!.counts!.succeeded + later.job!.counts!.cancelled + later.job!.counts!.failed).toBe(400);
    expect(Date.now() - cancelledAt).toBeLessThan(5000);
    const events = await watchAll(jobs, job!.id);
    expect(events[events.length - 1].event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.CANCELLED },
    });
    // Cancelling again changes nothing.
    expect((await jobs.cancelJob({ jobId: job!.id })).job!.counts).toEqual(later.job!.counts);
  });
});

describe("retry", () => {
  const bad = () => pack(HashRequestSchema, { input: { case: "text", value: "no algorithm" } });

  it("runs a finished job's failed items again as one new job that names them; a second retry answers the same job", async () => {
    const [good0, good1] = hashItems(2);
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: [bad(), good0, bad(), good1],
    });
    await watchAll(jobs, job!.id);
    const [a, b] = await Promise.all([jobs.retryJob({ jobId: job!.id }), jobs.retryJob({ jobId: job!.id })]);
    expect(b.job!.id).toBe(a.job!.id);
    expect(a.job).toMatchObject({ retryOfJobId: job!.id, batch: true, counts: { total: 2 } });
    const events = await watchAll(jobs, a.job!.id);
    const finished = events.flatMap((e) => (e.event.case === "itemFinished" ? [e.event.value.item!] : []));
    expect(finished.map((i) => [i.index, i.sourceIndex, i.state]).sort()).toEqual([
      [0, 0, ItemState.FAILED],
      [1, 2, ItemState.FAILED],
    ]);
    const got = (await jobs.getJob({ jobId: a.job!.id })).job!;
    expect(got.items.map((i) => i.sourceIndex)).toEqual([0, 2]);
    expect(got.items[1].error!.message).toBe("algorithm: is required");
    // Over REST as well; the same job again.
    const rest = await fetch(`${mesh.url}/api/v1/jobs/${job!.id}:retry`, {
      method: "POST",
      headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(rest.status).toBe(200);
    expect((await rest.json()).job.id).toBe(a.job!.id);
    // A job that succeeded has nothing to retry; another tenant does not find the job.
    const { job: fine } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: hashItems(1),
    });
    await watchAll(jobs, fine!.id);
    const nothing = await errorOf(jobs.retryJob({ jobId: fine!.id }));
    expect(nothing.code).toBe(Code.FailedPrecondition);
    expect(nothing.rawMessage).toMatch(/no failed, dead-lettered or cancelled items/);
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const other = connectClient(
      JobService,
      mesh.url,
      (await admin.createApiKey({ tenantId: "tenant-retry", scopes: ["*"] })).secret,
    );
    expect((await errorOf(other.retryJob({ jobId: job!.id }))).code).toBe(Code.NotFound);
    expect((await errorOf(jobs.retryJob({ jobId: "not-an-id" }))).code).toBe(Code.InvalidArgument);
  });

  it("refuses a job still running, then reruns what cancelling it left, to success", async () => {
    const slow = Array.from({ length: 20 }, () =>
      pack(HashPasswordRequestSchema, { password: "p", params: { memoryKib: 65_536, iterations: 3 } }),
    );
    const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/HashPassword", items: slow });
    const running = await errorOf(jobs.retryJob({ jobId: job!.id }));
    expect(running.code).toBe(Code.FailedPrecondition);
    expect(running.rawMessage).toMatch(/retry it once it has finished/);
    await jobs.cancelJob({ jobId: job!.id });
    const cancelled = (await jobs.getJob({ jobId: job!.id, itemsPageSize: 100 })).job!;
    const left = cancelled.items.filter((i) => i.state === ItemState.CANCELLED).map((i) => i.index);
    expect(left.length).toBeGreaterThan(0);
    const { job: retry } = await jobs.retryJob({ jobId: job!.id });
    expect(retry!.counts!.total).toBe(left.length);
    const events = await watchAll(jobs, retry!.id);
    expect(events[events.length - 1].event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.SUCCEEDED, counts: { succeeded: left.length } },
    });
    const got = (await jobs.getJob({ jobId: retry!.id, itemsPageSize: 100 })).job!;
    expect(got.items.map((i) => i.sourceIndex)).toEqual(left);
  });
});

describe("webhooks", () => {
  let server: Server;
  let url: string;
  const received: { headers: Record<string, string>; body: string; status: number }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const status = received.length === 0 ? 500 : 204;
        received.push({ headers: req.headers as Record<string, string>, body, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("signs per Standard Webhooks and retries after a 500", async () => {
    const key = Buffer.alloc(32, 7);
    const secret = `whsec_${key.toString("base64")}`;
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: hashItems(2),
      webhook: { url, secret },
    });
    await until(
      () => received.length >= 2,
      20_000,
      () => `${received.length} deliveries`,
    );
    expect(received.map((r) => r.status)).toEqual([500, 204]);
    for (const r of received) {
      const id = r.headers["webhook-id"];
      const ts = r.headers["webhook-timestamp"];
      const expected = createHmac("sha256", key).update(`${id}.${ts}.${r.body}`).digest("base64");
      expect(r.headers["webhook-signature"]).toBe(`v1,${expected}`);
      expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(60);
      const body = JSON.parse(r.body);
      expect(body).toMatchObject({ type: "job.finished", data: { id: job!.id, state: "JOB_STATE_SUCCEEDED" } });
    }
    expect(received[0].headers["webhook-id"]).toBe(received[1].headers["webhook-id"]);
  });
});
