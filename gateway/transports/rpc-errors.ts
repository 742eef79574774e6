/**
 * The one writer of an RPC error in the caller's own protocol, used by every refusal and failure
 * of the RPC transports: gRPC and gRPC-Web as trailers-only (the status in the one HEADERS frame
 * that ends the stream), Connect streaming as an end-stream message, Connect unary as JSON with
 * the HTTP status that fits. The error carries the request id; what is left of the request body
 * is read and thrown away.
 */
import type { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { withRequestId } from "#runtime/errors.js";
import { frame } from "../backends/h2-channel.js";
import { type Req, type Res, discardRest, send, toNodeHeaders } from "./node-http.js";

/** Options for writeRpcError. */
export interface RpcErrorOptions {
  req: Req;
  res: Res;
  error: ConnectError;
  requestId: string;
  /** Connect unary's HTTP status; default the code's (connect's table). */
  httpStatus?: number;
}

/** Writes `error` as the caller's protocol (from its content type) wants it; nothing once the answer has begun. */
export function writeRpcError({ req, res, error, requestId, httpStatus }: RpcErrorOptions): void {
  const err = withRequestId(error, requestId);
  discardRest(req);
  if (res.headersSent || res.writableEnded || ("stream" in res ? res.stream.destroyed : res.destroyed)) return;
  const contentType = String(req.headers["content-type"] ?? "");
  if (contentType.startsWith("application/grpc")) {
    const fields = {
      "content-type": contentType.startsWith("application/grpc-web")
        ? "application/grpc-web+proto"
        : "application/grpc",
      ...toNodeHeaders(setTrailerStatus(new Headers(), err)),
    };
    // Over HTTP/2 the status travels in the one HEADERS frame, which ends the stream (with the
    // headers already set on the response, CORS ones included).
    if ("stream" in res) res.stream.respond({ ...res.getHeaders(), ":status": 200, ...fields }, { endStream: true });
    else send(res, { status: 200, headers: fields });
    return;
  }
  const metadata = toNodeHeaders(err.metadata);
  if (contentType.startsWith("application/connect+")) {
    const endStream = Buffer.from(JSON.stringify({ error: errorToJson(err, {}) }));
    send(res, { status: 200, headers: { "content-type": contentType, ...metadata }, body: frame(endStream, 0b10) });
    return;
  }
  send(res, {
    status: httpStatus ?? codeToHttpStatus(err.code),
    headers: { "content-type": "application/json", ...metadata },
    body: Buffer.from(errorToJsonBytes(err, {})),
  });
}
