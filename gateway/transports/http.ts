/**
 * The gateway's request handler: request ids, CORS, health, size limits, then connect-node
 * serving Connect (JSON and binary, POST and GET), gRPC-Web and gRPC for every service.
 */
import type * as http from "node:http";
import {
  Code,
  ConnectError,
  type ContextValues,
  cors as connectCors,
  createConnectRouter,
  createContextValues,
} from "@connectrpc/connect";
import type { Admission } from "../policies/auth.js";
import type { UniversalHandler as ConnectHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { decodeInput } from "./unary/wire.js";
import { unframe } from "../backends/h2-channel.js";
import { parseContentType as parseConnectContentType } from "@connectrpc/connect/protocol-connect";
import { parseContentType as parseGrpcContentType } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as parseGrpcWebContentType } from "@connectrpc/connect/protocol-grpc-web";
import { acceptRequestId } from "#runtime/context.js";
import type { ServiceRegistration } from "#runtime/registration.js";
import type { Logger } from "#runtime/logger.js";
import type { UniversalHandler } from "./listener.js";
import type { UnaryTransport } from "./unary/transport.js";
import { protocolOf, type PolicyChain } from "../policies/policy.js";
import { policyInterceptor } from "./connect-node.js";
import { gatewayJsonOptions } from "./json-options.js";
import { type Req, type Res, declaredTooLarge, discarding, readBody, requestHeaders, send } from "./node-http.js";
import { writeRpcError } from "./rpc-errors.js";

/** Options for createGatewayHandler. */
export interface GatewayHandlerOptions {
  /** Every service the gateway serves, forwarded or local. */
  services: ServiceRegistration[];
  /** The gateway's policies, run on every call of every path. */
  policies: PolicyChain;
  /** Largest request body, in bytes. */
  maxRequestBytes: number;
  /** Allowed CORS origins; `*` allows any. */
  corsOrigins: string[];
  /** Logger for failures outside any call. */
  logger: Logger;
  /** Health report for `GET /healthz` (probes). */
  health: () => Promise<{ ok: boolean; body: unknown }>;
  /** The status report for `GET /health` (defaults to `health`). */
  statusReport?: () => Promise<{ ok: boolean; body: unknown }>;
  /** Every unary call (unary/transport.ts); connect-node serves the streams. */
  unary?: UnaryTransport;
  /**
   * Admits a stream's caller from its headers alone, before connect-node reads the body, setting
   * its principal in the call's values (the auth policy then does not authenticate it again).
   */
  admit?: (call: Admission) => Promise<void>;
  /** Prometheus text for `GET /metrics`. */
  metrics?: () => Promise<string>;
  /** The REST reference (`/openapi.json`, `/docs`): handles (and returns true for) its paths. */
  docs?: (req: Req, res: Res, path: string) => boolean;
  /** The REST transport: handles (and returns true for) every path under `/api/v1/`. */
  rest?: (req: Req, res: Res, path: string) => boolean;
  /** The OpenAI-compatible front: handles (and returns true for) every path under `/v1/`. */
  openai?: (req: Req, res: Res, path: string) => boolean;
}

const allowedHeaders = [
  ...connectCors.allowedHeaders,
  "Authorization",
  "X-API-Key",
  "X-Request-Id",
  "Traceparent",
  "Tracestate",
];
const exposedHeaders = [...connectCors.exposedHeaders, "X-Request-Id"];

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

/**
 * Refuses a server stream's request that is one uncompressed protobuf message (gRPC, gRPC-Web or
 * Connect streaming) which does not decode as the method's input; anything else (JSON, compressed,
 * several envelopes) connect-node reads and refuses itself.
 */
function checkStreamRequest(method: DescMethod, contentType: string, bytes: Buffer) {
  // The same content-type readers connect-node answers by (wire.ts reads unary calls with them).
  const web = parseGrpcWebContentType(contentType);
  const binary =
    parseGrpcContentType(contentType)?.binary ||
    (web?.binary && !web.text) ||
    parseConnectContentType(contentType)?.binary;
  const envelope = binary ? unframe(bytes) : undefined;
  if (!envelope || envelope.compressed) return;
  decodeInput(method, envelope.message);
}

/** Creates the gateway's universal (HTTP/1.1 and HTTP/2) handler. */
export function createGatewayHandler(options: GatewayHandlerOptions): UniversalHandler {
  const router = createConnectRouter({
    interceptors: [policyInterceptor(options.policies)],
    readMaxBytes: options.maxRequestBytes,
    writeMaxBytes: options.maxRequestBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: gatewayJsonOptions,
  });
  for (const { service, impl } of options.services) router.service(service as DescService, impl as never);
  const handlers = new Map<string, ConnectHandler>(router.handlers.map((h) => [h.requestPath, h]));

  async function serve({
    handler,
    req,
    res,
    values,
  }: {
    handler: ConnectHandler;
    req: Req;
    res: Res;
    values: ContextValues;
  }) {
    let uReq = universalRequestFromNodeRequest(
      req as http.IncomingMessage,
      res as http.ServerResponse,
      undefined,
      values,
    );
    if (handler.method.methodKind === "server_streaming") {
      // A server stream's request is one message: read here (within the limit) and checked, so
      // bytes that are not the method's input are the caller's bad input, not connect-node's
      // `internal`; connect-node then reads the same bytes.
      let bytes: Buffer;
      try {
        bytes = await readBody(req, options.maxRequestBytes, 5);
        checkStreamRequest(handler.method, String(req.headers["content-type"] ?? ""), bytes);
      } catch (thrown) {
        writeRpcError({ req, res, error: ConnectError.from(thrown), requestId: req.headers["x-request-id"] as string });
        return;
      }
      uReq = {
        ...uReq,
        body: (async function* () {
          yield bytes;
        })(),
      };
    }
    await universalResponseToNodeResponse(await handler(uReq), res as http.ServerResponse);
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
      send(res, { status: 204 });
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if ((path === "/healthz" || path === "/health") && (req.method === "GET" || req.method === "HEAD")) {
      const report = path === "/health" ? (options.statusReport ?? options.health) : options.health;
      report().then(
        ({ ok, body }) =>
          send(res, {
            status: ok ? 200 : 503,
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          }),
        () =>
          send(res, {
            status: 503,
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ status: "NOT_SERVING" }),
          }),
      );
      return;
    }
    if (path === "/metrics" && req.method === "GET" && options.metrics) {
      options.metrics().then(
        (text) => send(res, { status: 200, headers: { "content-type": "text/plain; version=0.0.4" }, body: text }),
        () => send(res, { status: 500, headers: { "content-type": "text/plain" }, body: "metrics unavailable" }),
      );
      return;
    }
    if (options.docs?.(req, res, path)) return;
    if (options.rest?.(req, res, path)) return;
    if (options.openai?.(req, res, path)) return;
    const tooLarge = declaredTooLarge(req, options.maxRequestBytes);
    if (tooLarge) {
      writeRpcError({ req, res, error: tooLarge, requestId });
      return;
    }
    if (options.unary?.(req, res, path)) return;
    const handler = handlers.get(path);
    if (!handler) {
      // gRPC's code for a method nobody serves; Connect unary keeps the HTTP 404 of an unknown path.
      writeRpcError({
        req,
        res,
        error: new ConnectError(`no such method: ${path}`, Code.Unimplemented),
        requestId,
        httpStatus: 404,
      });
      return;
    }
    // connect-node reads the body before the policies run: the caller is authorized from its headers first.
    // A client gone before its body was whole never reached the policies (connect-node reads
    // the body first), so its access-log line is written here: its own cancellation.
    req.once("aborted", () => {
      if (req.complete) return;
      const method = `${handler.service.typeName}/${handler.method.name}`;
      options.logger.info({ requestId, method, protocol: protocolOf(requestHeaders(req)), code: "Canceled" }, "call");
    });
    const values = createContextValues();
    const admitted = options.admit?.({ header: requestHeaders(req), service: handler.service.typeName, values });
    (admitted ?? Promise.resolve()).then(
      () =>
        serve({ handler, req, res, values }).catch((reason) => {
          if (ConnectError.from(reason).code !== Code.Aborted) {
            options.logger.warn({ err: reason, requestId, path }, "response failed");
          }
        }),
      (reason) => writeRpcError({ req, res, error: ConnectError.from(reason), requestId }),
    );
  };
}
