/** One unary call with bytes in and bytes out, on the backend's node:http2 channel (gateway/h2-channel.ts). */
import type { OutgoingHttpHeaders } from "node:http2";
import { fromGrpcError, type Backend } from "./backends.js";
import type { GrpcFailure } from "./h2-channel.js";

/** Calls `path` on `backend` with the serialized `request`; a non-OK status rejects with the ConnectError the caller sees. */
export function unaryCall(
  backend: Backend,
  path: string,
  request: Buffer,
  metadata: OutgoingHttpHeaders,
  deadline: number,
  signal: AbortSignal,
): Promise<Buffer> {
  return backend.unary.call(path, request, metadata, deadline, signal).catch((failure: GrpcFailure) => {
    throw fromGrpcError(failure, backend);
  });
}
