/**
 * An OTLP endpoint that hangs (accepts the connection, never answers) never fails a call or makes
 * one wait: spans queue up to the exporter's bound, the rest are dropped and counted in
 * `flowforge_trace_spans_dropped_total`.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Mesh, startMesh } from "../support/mesh.js";
import { scrape, sumOf } from "../support/prometheus.js";
import { waitFor } from "../support/until.js";

let mesh: Mesh;
let hanging: Server;
const held: Socket[] = [];
beforeAll(async () => {
  hanging = createServer((socket) => held.push(socket));
  await new Promise<void>((r) => hanging.listen(0, "127.0.0.1", r));
  mesh = await startMesh({
    FLOWFORGE_CAPABILITIES: "crypto",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    // A small queue, exported often, each export given up after half a second.
    OTEL_BSP_MAX_QUEUE_SIZE: "16",
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "8",
    OTEL_BSP_SCHEDULE_DELAY: "50",
    OTEL_BSP_EXPORT_TIMEOUT: "500",
  });
});
afterAll(async () => {
  await mesh?.stop();
  for (const s of held) s.destroy();
  hanging?.close();
});

describe("a trace endpoint that hangs", () => {
  it("every call is answered; the spans that do not fit are dropped and counted", async () => {
    const call = (i: number) =>
      fetch(`${mesh.url}/api/v1/crypto/hash`, {
        method: "POST",
        headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" },
        body: JSON.stringify({ algorithm: "sha256", text: `t${i}` }),
      }).then((r) => r.status);
    const statuses: number[] = [];
    for (let round = 0; round < 20; round++)
      statuses.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => call(round * 10 + i)))));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(held.length).toBeGreaterThan(0); // the exporters did reach the endpoint
    const health = (await (await fetch(`${mesh.url}/healthz`)).json()) as {
      processes: Record<string, { metricsPort: number }>;
    };
    // The SDK reports a drop once room frees up (an export given up): calls keep coming until then.
    await waitFor(
      async () => {
        await call(0);
        const gateway = await scrape(health.processes.gateway.metricsPort);
        return sumOf(gateway.samples, "flowforge_trace_spans_dropped_total") > 0;
      },
      { ms: 30_000, what: "the gateway to count dropped spans" },
    );
  });
});
