/**
 * The gateway's request handler: request ids, CORS, health, size limits, then connect-node
 * serving Connect (JSON and binary, POST and GET), gRPC-Web and gRPC for every service.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, cors as connectCors, createConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler as ConnectHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { create, toBinary, type DescService } from "@bufbuild/protobuf";
import { RequestInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { acceptRequestId } from "../lib/runtime/grpc-adapter.js";
import type { ServiceRegistration } from "../lib/runtime/server.js";
import type { Logger } from "../lib/runtime/logger.js";
import type { UniversalHandler } from "./listener.js";
import { enrichErrorBody } from "./connect-errors.js";
import { discardRest, discarding } from "./discard.js";
import type { Passthrough } from "./passthrough.js";
import { gatewayJsonOptions } from "./json-options.js";

/** Options for createGatewayHandler. */
export interface GatewayHandlerOptions {
  /** Every service the gateway serves, forwarded or local. */
  services: ServiceRegistration[];
  /** Interceptors, outermost first. */
  interceptors: Interceptor[];
  /** Largest request body, in bytes. */
  maxRequestBytes: number;
  /** Allowed CORS origins; `*` allows any. */
  corsOrigins: string[];
  /** Logger for failures outside any call. */
  logger: Logger;
  /** Health report for `GET /healthz` (also `/health`). */
  health: () => Promise<{ ok: boolean; body: unknown }>;
  /** Fast path for unary calls (see passthrough.ts); the rest go through connect-node. */
  passthrough?: Passthrough;
  /** Prometheus text for `GET /metrics`. */
  metrics?: () => Promise<string>;
}

const allowedHeaders = [...connectCors.allowedHeaders, "Authorization", "X-API-Key", "X-Request-Id", "Traceparent", "Tracestate"];
const exposedHeaders = [...connectCors.exposedHeaders, "X-Request-Id"];

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/** Writes a complete response (the HTTP/1.1 and HTTP/2 compat APIs agree on this much). */
function send(res: Res, status: number, headers: Record<string, string>, body?: string) {
  (res as http.ServerResponse).writeHead(status, headers);
  (res as http.ServerResponse).end(body);
}

function applyCors(req: Req, res: Res, origins: string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return false;
  if (!origins.includes("*") && !origins.includes(origin)) return false;
  res.setHeader("Access-Control-Allow-Origin", origins.includes("*") ? "*" : origin);
  res.setHeader("Vary", "Origin");
  res.setHeader("Access-Control-Expose-Headers", exposedHeaders.join(", "));
  if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
    res.setHeader("Access-Control-Allow-Methods", connectCors.allowedMethods.join(", "));
    res.setHeader("Access-Control-Allow-Headers", allowedHeaders.join(", "));
    res.setHeader("Access-Control-Max-Age", "7200");
    return true;
  }
  return false;
}

/** Answers an over-size request in the caller's protocol without keeping its body. */
function refuseTooLarge(req: Req, res: Res, size: number, limit: number, requestId: string) {
  const err = new ConnectError(`request body is ${size} bytes, over the ${limit}-byte limit`, Code.ResourceExhausted);
  discardRest(req);
  const contentType = String(req.headers["content-type"] ?? "");
  if (contentType.startsWith("application/grpc")) {
    const status = create(StatusSchema, {
      code: err.code,
      message: err.rawMessage,
      details: [anyPack(RequestInfoSchema, create(RequestInfoSchema, { requestId }))],
    });
    send(res, 200, {
      "content-type": contentType.startsWith("application/grpc-web") ? "application/grpc-web+proto" : "application/grpc",
      "grpc-status": String(err.code),
      "grpc-message": encodeURIComponent(err.rawMessage),
      "grpc-status-details-bin": Buffer.from(toBinary(StatusSchema, status)).toString("base64").replace(/=+$/, ""),
    });
    return;
  }
  send(
    res,
    429,
    { "content-type": "application/json" },
    JSON.stringify({
      code: "resource_exhausted",
      message: err.rawMessage,
      details: [
        {
          type: RequestInfoSchema.typeName,
          debug: { requestId },
          value: Buffer.from(toBinary(RequestInfoSchema, create(RequestInfoSchema, { requestId }))).toString("base64").replace(/=+$/, ""),
        },
      ],
    }),
  );
}

/** Creates the gateway's universal (HTTP/1.1 and HTTP/2) handler. */
export function createGatewayHandler(options: GatewayHandlerOptions): UniversalHandler {
  const router = createConnectRouter({
    interceptors: options.interceptors,
    readMaxBytes: options.maxRequestBytes,
    writeMaxBytes: options.maxRequestBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: gatewayJsonOptions,
  });
  for (const { service, impl } of options.services) router.service(service as DescService, impl as never);
  const handlers = new Map<string, ConnectHandler>(router.handlers.map((h) => [h.requestPath, h]));

  async function serve(handler: ConnectHandler, req: Req, res: Res, requestId: string) {
    let uRes: UniversalServerResponse = await handler(universalRequestFromNodeRequest(req as http.IncomingMessage, res as http.ServerResponse, undefined, undefined));
    if (uRes.status >= 400 && String(uRes.header?.get("content-type")).startsWith("application/json") && uRes.body) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of uRes.body as AsyncIterable<Uint8Array>) chunks.push(chunk);
      const body = enrichErrorBody(Buffer.concat(chunks).toString(), requestId, handler.method);
      const header = new Headers(uRes.header);
      header.delete("content-length");
      const bytes = new TextEncoder().encode(body);
      uRes = { ...uRes, header, body: (async function* () { yield bytes; })() };
    }
    await universalResponseToNodeResponse(uRes, res as http.ServerResponse);
  }

  return (req, res) => {
    if (!("stream" in req)) {
      const socket = req.socket; // detached from req once the response is done
      res.once("finish", () => {
        // A handler that stopped reading early (connect-node past readMaxBytes) leaves the rest
        // of the body unread; an HTTP/1.1 connection in that state is closed, not reused.
        if (!req.complete && !discarding.has(req)) socket?.end();
      });
    }
    const requestId = acceptRequestId(req.headers["x-request-id"] as string | undefined);
    req.headers["x-request-id"] = requestId;
    res.setHeader("x-request-id", requestId);
    if (applyCors(req, res, options.corsOrigins)) {
      send(res, 204, {});
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if ((path === "/healthz" || path === "/health") && (req.method === "GET" || req.method === "HEAD")) {
      options.health().then(
        ({ ok, body }) => send(res, ok ? 200 : 503, { "content-type": "application/json" }, JSON.stringify(body)),
        () => send(res, 503, { "content-type": "application/json" }, JSON.stringify({ status: "NOT_SERVING" })),
      );
      return;
    }
    if (path === "/metrics" && req.method === "GET" && options.metrics) {
      options.metrics().then(
        (text) => send(res, 200, { "content-type": "text/plain; version=0.0.4" }, text),
        () => send(res, 500, { "content-type": "text/plain" }, "metrics unavailable"),
      );
      return;
    }
    const length = Number(req.headers["content-length"] ?? 0);
    if (length > options.maxRequestBytes) {
      refuseTooLarge(req, res, length, options.maxRequestBytes, requestId);
      return;
    }
    if (options.passthrough?.(req, res, path)) return;
    const handler = handlers.get(path);
    if (!handler) {
      send(res, 404, { "content-type": "application/json" }, JSON.stringify({ code: "unimplemented", message: `no such method: ${path}` }));
      return;
    }
    serve(handler, req, res, requestId).catch((reason) => {
      if (ConnectError.from(reason).code !== Code.Aborted) {
        options.logger.warn({ err: reason, requestId, path }, "response failed");
      }
    });
  };
}
