/**
 * What an operator sees of the running mesh: one trace from the caller through the gateway, the
 * jobs service, the job worker in the capability's process and the webhook, exported over
 * OTLP/HTTP to a receiver here, with the trace id on the log lines; every process serving
 * Prometheus metrics on its own port (RED per method, calls in flight, bulkheads, job items, queue
 * depth, outbox age, the process's CPU, memory and event-loop lag); a scrape during a
 * 10,000-item batch; a process killed and restarted coming back with the same metric names and
 * labels on the same port.
 */
import { defaultTextMapSetter, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { TracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Mesh, startMesh } from "../support/mesh.js";
import { scrape, sumOf } from "../support/prometheus.js";
import { waitFor } from "../support/until.js";

/** A span as the OTLP/HTTP JSON export carries it, with the service that sent it. */
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
}

/** An HTTP server that takes what it is sent, for as long as the test needs it. */
async function receiver(handle: (path: string, headers: IncomingHttpHeaders, body: string) => void): Promise<Server> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      handle(req.url ?? "", req.headers, body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

type OtlpValue = { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
const otlpValue = (v: OtlpValue) =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ""));
const attributesOf = (list: { key: string; value: OtlpValue }[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, otlpValue(a.value)]));

const spans: ReceivedSpan[] = [];
const webhooks: { headers: IncomingHttpHeaders; body: string }[] = [];
let collector: Server;
let hooks: Server;
const collectorUrl = () => `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

interface Supervised {
  state: string;
  pid?: number;
  metricsPort?: number;
}

let mesh: Mesh;
beforeAll(async () => {
  collector = await receiver((path, _headers, body) => {
    if (path !== "/v1/traces") return;
    for (const rs of JSON.parse(body).resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)["service.name"]);
      for (const ss of rs.scopeSpans ?? [])
        for (const sp of ss.spans ?? [])
          spans.push({
            service,
            ...sp,
            parentSpanId: sp.parentSpanId || undefined,
            attributes: attributesOf(sp.attributes),
          });
    }
  });
  hooks = await receiver((_path, headers, body) => webhooks.push({ headers, body }));
  mesh = await startMesh({
    FLOWFORGE_CAPABILITIES: "crypto,math",
    // Every process exports its spans here, as JSON, within a tenth of a second.
    OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl(),
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_TRACES_SAMPLER: "parentbased_always_on",
    // The webhook receiver is on loopback.
    FLOWFORGE_WEBHOOK_ALLOW_PRIVATE: "1",
  });
});
afterAll(async () => {
  await mesh?.stop();
  collector?.close();
  hooks?.close();
});

describe("one trace across the mesh", () => {
  it("a REST batch: caller → gateway → jobs → the worker in crypto → the webhook, parents linked, trace id on the logs", async () => {
    // The caller, a workflow engine with tracing of its own (this process), exports its span to the
    // same collector and sends its context.
    const caller = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": "caller" }),
      spanProcessors: [
        new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${collectorUrl()}/v1/traces` }) }),
      ],
    });
    const step = caller.getTracer("workflow").startSpan("workflow step");
    const carrier: Record<string, string> = {};
    new W3CTraceContextPropagator().inject(trace.setSpan(ROOT_CONTEXT, step), carrier, defaultTextMapSetter);
    const { traceId, spanId: callerSpan } = step.spanContext();
    const res = await fetch(`${mesh.url}/api/v1/crypto/hash:batch`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${mesh.adminKey}`,
        "content-type": "application/json",
        traceparent: carrier.traceparent,
      },
      body: JSON.stringify({
        items: [
          { algorithm: "sha256", text: "a" },
          { algorithm: "sha256", text: "b" },
        ],
        webhook: {
          url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/done`,
          secret: `whsec_${Buffer.alloc(32, 7).toString("base64")}`,
        },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    step.end();
    await caller.forceFlush();
    const requestId = res.headers.get("x-request-id");
    const jobId = ((await res.json()) as { job: { id: string } }).job.id;

    const hook = await waitFor(() => webhooks.find((w) => w.body.includes(jobId)), { ms: 60_000, what: "the webhook" });
    const inTrace = () => spans.filter((s) => s.traceId === traceId);
    const tree = () => JSON.stringify(inTrace().map((s) => [s.service, s.name, s.spanId, s.parentSpanId]));
    // The webhook request continues the trace under the delivery's span (webhook): its parent is
    // that span, or the HTTP client span the http instrumentation made under it.
    const [, hookTrace, hookParent] = String(hook.headers.traceparent).split("-");
    expect(hookTrace).toBe(traceId);
    const parent = await waitFor(() => inTrace().find((s) => s.spanId === hookParent), {
      what: "the span the webhook request names as its parent",
      detail: tree,
    });
    const webhookSpan =
      parent.name === "webhook"
        ? parent
        : await waitFor(() => inTrace().find((s) => s.spanId === parent.parentSpanId && s.name === "webhook"), {
            what: "the webhook span above the delivery's HTTP span",
            detail: tree,
          });

    // The HTTP request's span (http instrumentation), the call's under it (the gateway's policy).
    // Each process exports its spans in its own batches: wait for each span, not just the webhook's.
    const post = await waitFor(() => inTrace().find((s) => s.service === "flowforge-gateway" && s.name === "POST"), {
      what: "the gateway's HTTP span",
      detail: tree,
    });
    expect(post.parentSpanId).toBe(callerSpan);
    const gateway = await waitFor(
      () =>
        inTrace().find((s) => s.service === "flowforge-gateway" && s.name === "flowforge.jobs.v1.JobService/SubmitJob"),
      { what: "the gateway's call span", detail: tree },
    );
    expect(gateway.parentSpanId).toBe(post.spanId);
    expect(gateway.attributes).toMatchObject({ "flowforge.request_id": requestId, "flowforge.protocol": "rest" });
    const submit = await waitFor(
      () =>
        inTrace().find(
          (s) =>
            s.service === "flowforge-jobs" &&
            s.name.endsWith("flowforge.jobs.v1.JobService/SubmitJob") &&
            s.parentSpanId === gateway.spanId,
        ),
      { what: "the jobs service's SubmitJob span under the gateway's", detail: tree },
    );
    const items = await waitFor(
      () => {
        const found = inTrace().filter((s) => s.name === "job item flowforge.crypto.v1.CryptoService/Hash");
        return found.length === 2 && found;
      },
      { what: "a span per item" },
    );
    for (const item of items) {
      expect(item.service).toBe("flowforge-crypto");
      expect(item.parentSpanId).toBe(submit!.spanId);
      expect(item.attributes).toMatchObject({ "flowforge.job_id": jobId, "flowforge.request_id": requestId });
    }
    expect(webhookSpan).toMatchObject({ service: "flowforge-jobs", parentSpanId: submit!.spanId });
    expect(webhookSpan.attributes["flowforge.job_id"]).toBe(jobId);
    // Four processes: the caller, the gateway, jobs and crypto.
    expect([...new Set(inTrace().map((s) => s.service))].sort()).toEqual([
      "caller",
      "flowforge-crypto",
      "flowforge-gateway",
      "flowforge-jobs",
    ]);

    // The gateway's access-log line carries the trace id beside the request id.
    const logged = mesh
      .output()
      .split("\n")
      .filter((l) => l.includes(traceId))
      .map((l) => JSON.parse(l) as { name: string; requestId?: string; trace_id: string });
    expect(logged.some((l) => l.name === "gateway" && l.requestId === requestId && l.trace_id === traceId)).toBe(true);
  });

  it("a malformed traceparent is not honoured: the call answers and starts a trace of its own", async () => {
    const bad = "00-zzzz-not-a-trace-01";
    const res = await fetch(`${mesh.url}/api/v1/crypto/hash`, {
      method: "POST",
      headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json", traceparent: bad },
      body: JSON.stringify({ algorithm: "sha256", text: "x" }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id");
    const span = await waitFor(
      () => spans.find((s) => s.service === "flowforge-gateway" && s.attributes["flowforge.request_id"] === requestId),
      { what: "the gateway's span" },
    );
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    // Its trace starts at the gateway: the HTTP request's span has no parent.
    const root = await waitFor(() => spans.find((s) => s.spanId === span.parentSpanId), { what: "the request's span" });
    expect(root).toMatchObject({ service: "flowforge-gateway", name: "POST", traceId: span.traceId });
    expect(root.parentSpanId).toBeUndefined();
    // The capability's span is in the new trace, under the gateway's.
    await waitFor(
      () =>
        spans.find(
          (s) => s.service === "flowforge-crypto" && s.traceId === span.traceId && s.parentSpanId === span.spanId,
        ),
      {
        what: "crypto's span under the gateway's",
      },
    );
  });
});

async function processes(): Promise<Record<string, Supervised>> {
  const res = await fetch(`${mesh.url}/healthz`);
  return ((await res.json()) as { processes: Record<string, Supervised> }).processes;
}

async function rest(path: string, body: unknown): Promise<{ status: number; body: Record<string, never> }> {
  const res = await fetch(`${mesh.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, never> };
}

const hash = "/flowforge.crypto.v1.CryptoService/Hash";
const hashJob = "flowforge.crypto.v1.CryptoService/Hash";

describe("metrics on every process", () => {
  it("each process answers on its metrics port: calls by method and code, bulkheads, job items, the process", async () => {
    const ps = await processes();
    expect(Object.keys(ps).sort()).toEqual(["crypto", "gateway", "jobs", "math"]);
    const ports = Object.values(ps).map((p) => p.metricsPort);
    expect(new Set(ports).size).toBe(4);

    // Other tests in this file ran items too: counted from here.
    const itemsBefore = (name: string) =>
      scrape(ps.crypto.metricsPort!).then((m) => sumOf(m.samples, name, { method: hashJob }));
    const [succeededBefore, timedBefore] = [
      await itemsBefore("flowforge_job_items_total"),
      await itemsBefore("flowforge_job_item_seconds_count"),
    ];
    expect((await rest("/api/v1/crypto/hash", { algorithm: "sha256", text: "abc" })).status).toBe(200);
    expect(
      (await rest("/api/v1/crypto/hash", { algorithm: "sha256", text: "abc", encoding: "ENCODING_NOPE" })).status,
    ).toBe(400);
    expect((await rest("/api/v1/crypto/hash", { text: "abc" })).status).toBe(400);
    expect((await rest("/api/v1/math/evaluate", { expression: "2 + 3" })).status).toBe(200);
    const batch = await rest("/api/v1/crypto/hash:batch?wait=60s", {
      items: Array.from({ length: 20 }, (_, i) => ({ algorithm: "sha256", text: `item ${i}` })),
    });
    expect(batch.body.job).toMatchObject({ state: "JOB_STATE_SUCCEEDED" });

    const crypto = await scrape(ps.crypto.metricsPort!);
    const ok = { service: "crypto", method: hash, code: "OK" };
    expect(sumOf(crypto.samples, "flowforge_grpc_server_handled_total", ok)).toBeGreaterThanOrEqual(1);
    expect(
      sumOf(crypto.samples, "flowforge_grpc_server_handled_total", { method: hash, code: "INVALID_ARGUMENT" }),
    ).toBeGreaterThanOrEqual(1);
    expect(sumOf(crypto.samples, "flowforge_grpc_server_handling_seconds_count", { method: hash })).toBe(
      sumOf(crypto.samples, "flowforge_grpc_server_handled_total", { method: hash }),
    );
    expect(sumOf(crypto.samples, "flowforge_grpc_server_in_flight", { method: hash })).toBe(0);
    expect(sumOf(crypto.samples, "flowforge_job_items_total", { method: hashJob, outcome: "succeeded" })).toBe(
      succeededBefore + 20,
    );
    expect(sumOf(crypto.samples, "flowforge_job_item_seconds_count", { method: hashJob })).toBe(timedBefore + 20);
    expect(sumOf(crypto.samples, "flowforge_process_resident_memory_bytes", { service: "crypto" })).toBeGreaterThan(
      10 * 2 ** 20,
    );
    expect(sumOf(crypto.samples, "flowforge_process_cpu_seconds_total", { service: "crypto" })).toBeGreaterThan(0);
    expect(crypto.declared).toContain("flowforge_nodejs_eventloop_lag_seconds");

    const math = await scrape(ps.math.metricsPort!);
    expect(sumOf(math.samples, "flowforge_bulkhead_wait_seconds_count", { bulkhead: "math" })).toBeGreaterThanOrEqual(
      1,
    );
    expect(math.declared).toContain("flowforge_bulkhead_waiting");
    expect(math.samples.find((s) => s.name === "flowforge_bulkhead_running")?.labels).toMatchObject({
      bulkhead: "math",
      service: "math",
    });

    const jobs = await scrape(ps.jobs.metricsPort!);
    expect(jobs.declared).toContain("flowforge_job_queue_depth");
    expect(jobs.declared).toContain("flowforge_db_connections");
    expect(sumOf(jobs.samples, "flowforge_job_outbox_oldest_seconds", { service: "jobs" })).toBeGreaterThanOrEqual(0);
    expect(jobs.samples.some((s) => s.name === "flowforge_job_outbox_oldest_seconds")).toBe(true);

    // The gateway's, without a key on its metrics port.
    const gateway = await scrape(ps.gateway.metricsPort!);
    expect(sumOf(gateway.samples, "flowforge_rpc_requests_total", { method: hashJob })).toBeGreaterThanOrEqual(3);
  });

  it("a scrape during a 10,000-item batch answers and shows the queue; every item is counted once", async () => {
    const ps = await processes();
    const before = sumOf((await scrape(ps.crypto.metricsPort!)).samples, "flowforge_job_items_total", {
      method: hashJob,
      outcome: "succeeded",
    });
    const submitted = await rest("/api/v1/crypto/hash:batch", {
      items: Array.from({ length: 10_000 }, (_, i) => ({ algorithm: "sha256", text: `row ${i}` })),
    });
    expect(submitted.status).toBe(200);
    const id = (submitted.body.job as { id: string }).id;
    const depths: number[] = [];
    await waitFor(
      async () => {
        const jobs = await scrape(ps.jobs.metricsPort!);
        depths.push(sumOf(jobs.samples, "flowforge_job_queue_depth", { method: hashJob }));
        const res = await fetch(`${mesh.url}/api/v1/jobs/${id}`, {
          headers: { authorization: `Bearer ${mesh.adminKey}` },
        });
        const job = ((await res.json()) as { job: { state: string } }).job;
        return job.state === "JOB_STATE_SUCCEEDED";
      },
      { ms: 180_000, what: "the batch to finish" },
    );
    expect(Math.max(...depths)).toBeGreaterThan(0);
    expect(Math.max(...depths)).toBeLessThanOrEqual(10_000);
    const after = sumOf((await scrape(ps.crypto.metricsPort!)).samples, "flowforge_job_items_total", {
      method: hashJob,
      outcome: "succeeded",
    });
    expect(after - before).toBe(10_000);
    const jobs = await scrape(ps.jobs.metricsPort!);
    expect(sumOf(jobs.samples, "flowforge_job_queue_depth", { method: hashJob })).toBe(0);
  });

  it("a process killed and restarted serves the same metric names and labels on the same port", async () => {
    const ps = await processes();
    const port = ps.crypto.metricsPort!;
    await rest("/api/v1/crypto/hash", { algorithm: "sha256", text: "before" });
    const before = await scrape(port);
    process.kill(ps.crypto.pid!, "SIGKILL");
    const restarted = await waitFor(
      async () => {
        const now = (await processes()).crypto;
        return now.state === "running" && now.pid !== ps.crypto.pid && now;
      },
      { ms: 60_000, what: "crypto to be restarted" },
    );
    expect(restarted.metricsPort).toBe(port);
    await waitFor(
      async () => (await rest("/api/v1/crypto/hash", { algorithm: "sha256", text: "after" })).status === 200,
      {
        ms: 30_000,
        what: "a hash answered again",
      },
    );
    const after = await scrape(port);
    expect([...after.declared].sort()).toEqual([...before.declared].sort());
    const keys = (s: { samples: { name: string; labels: Record<string, string> }[] }) =>
      s.samples.find((x) => x.name === "flowforge_grpc_server_handled_total" && x.labels.method === hash)?.labels;
    expect(keys(after)).toEqual(keys(before));
    // Counted afresh by the new process.
    expect(sumOf(after.samples, "flowforge_grpc_server_handled_total", { method: hash, code: "OK" })).toBe(1);
  });
});
