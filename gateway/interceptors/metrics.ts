/** Prometheus metrics per call: rate, errors and duration by method, code and protocol. */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { outcomeCode, protocolOf } from "./protocol.js";

/** The gateway's metrics registry and its instruments. */
export interface GatewayMetrics {
  registry: Registry;
  interceptor: Interceptor;
}

/** Creates a registry (with process metrics) and the interceptor that feeds it. */
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
  const interceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const protocol = protocolOf(req.header);
    const end = duration.startTimer({ method, protocol });
    try {
      const res = await next(req);
      requests.inc({ method, code: "ok", protocol });
      return res;
    } catch (err) {
      requests.inc({ method, code: Code[outcomeCode(req.signal, err)] ?? "unknown", protocol });
      throw err;
    } finally {
      end();
    }
  };
  return { registry, interceptor };
}
