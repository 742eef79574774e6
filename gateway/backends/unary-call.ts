/** One unary call with bytes in and bytes out, on the backend's node:http2 channel (gateway/h2-channel.ts). */
import { fromGrpcError, type Backend } from "./backends.js";
import type { GrpcFailure, UnaryRequest } from "./h2-channel.js";

/** Makes `request` on `backend`; a non-OK status rejects with the ConnectError the caller sees. */
export function unaryCall(backend: Backend, request: UnaryRequest): Promise<Buffer> {
  return backend.unary.call(request).catch((failure: GrpcFailure) => {
    throw fromGrpcError(failure, backend);
  });
}
