/**
 * `GET /metrics` in Prometheus text on a port of its own (`METRICS_PORT`), beside a process's
 * gRPC or HTTP port: Prometheus scrapes every process there, and the port is not the public one
 * (the gateway also answers an operator's `/metrics` on its own port, behind a key).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { metricsRegistry } from "./metrics.js";

/** Options for serveMetrics. */
export interface MetricsServerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The text to serve. @default the process's registry */
  metrics?: () => Promise<string>;
}

/** A listening metrics server. */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` until closed. */
export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  const read = options.metrics ?? (() => metricsRegistry.metrics());
  const server = http.createServer((req, res) => {
    if (req.url !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
      return;
    }
    read().then(
      (text) => res.writeHead(200, { "content-type": metricsRegistry.contentType }).end(text),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
