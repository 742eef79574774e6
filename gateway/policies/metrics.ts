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
  const policy: Policy = (next) => async (call) => {
    const method = `${call.service.typeName}/${call.method.name}`;
    const protocol = call.protocol;
    const end = duration.startTimer({ method, protocol });
    try {
      const answer = await next(call);
      requests.inc({ method, code: "ok", protocol });
      return answer;
    } catch (err) {
      requests.inc({ method, code: Code[outcomeCode(call.signal, err)] ?? "unknown", protocol });
      throw err;
    } finally {
      end();
    }
  };
  return { registry, policy };
}
