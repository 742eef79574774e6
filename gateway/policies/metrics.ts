/** Prometheus metrics per call: rate, errors and duration by method, code and protocol. */
import { Code } from "@connectrpc/connect";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { outcomeCode } from "./outcome.js";
import type { Policy } from "./policy.js";

/** The gateway's metrics registry and the policy that feeds it. */
export interface GatewayMetrics {
  registry: Registry;
  policy: Policy;
}

/** Creates a registry (with process metrics) and the policy that feeds it. */
export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "flowforge_gateway_" });
  const requests = new Counter({
    name: "flowforge_rpc_requests_total",
    help: "Calls through the gateway by method, outcome code and protocol.",
    labelNames: ["method", "code", "protocol"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "flowforge_rpc_duration_seconds",
    help: "Time from the gateway receiving a call to its response (streams: to the first response).",
    labelNames: ["method", "protocol"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  // Labelled series looked up once per method and protocol, not hashed again on every call.
  type Series = {
    method: string;
    protocol: string;
    duration: { observe(seconds: number): void };
    requests: Map<string, { inc(): void }>;
  };
  const series = new Map<string, Series>();
  const seriesOf = (method: string, protocol: string): Series => {
    const key = `${method} ${protocol}`;
    let s = series.get(key);
    if (!s) {
      s = { method, protocol, duration: duration.labels({ method, protocol }), requests: new Map() };
      series.set(key, s);
    }
    return s;
  };
  const count = (s: Series, code: string) => {
    let counter = s.requests.get(code);
    if (!counter) {
      counter = requests.labels({ method: s.method, code, protocol: s.protocol });
      s.requests.set(code, counter);
    }
    counter.inc();
  };
  const policy: Policy = (next) => async (call) => {
    const method = `${call.service.typeName}/${call.method.name}`;
    const protocol = call.protocol;
    const s = seriesOf(method, protocol);
    const started = performance.now();
    try {
      const answer = await next(call);
      count(s, "ok");
      return answer;
    } catch (err) {
      count(s, Code[outcomeCode(call.signal, err)] ?? "unknown");
      throw err;
    } finally {
      s.duration.observe((performance.now() - started) / 1000);
    }
  };
  return { registry, policy };
}
