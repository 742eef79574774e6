/**
 * One unary call with bytes in and bytes out on a grpc-js channel, through the channel's own
 * call API: the same channel, load balancing, deadline and metadata as `Client.makeUnaryRequest`,
 * without the client's per-call layers (interceptor stack, serializer wrappers, and an Error
 * built for every call to keep the caller's stack).
 */
import * as grpc from "@grpc/grpc-js";
import { fromGrpcError, type Backend } from "./backends.js";

/** Calls `path` on `backend` with the serialized `request`; a non-OK status rejects with the ConnectError the caller sees. */
export function unaryCall(backend: Backend, path: string, request: Buffer, metadata: grpc.Metadata, deadline: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const call = backend.channel.createCall(path, deadline, null, null, null);
    let response: Buffer | undefined;
    const onAbort = () => call.cancelWithStatus(grpc.status.CANCELLED, "cancelled by the caller");
    call.start(metadata, {
      onReceiveMetadata() {},
      onReceiveMessage(message: Buffer) {
        response = message;
      },
      onReceiveStatus(status) {
        signal.removeEventListener("abort", onAbort);
        if (status.code === grpc.status.OK && response) {
          resolve(response);
          return;
        }
        const [code, details] = status.code === grpc.status.OK ? [grpc.status.UNIMPLEMENTED, "no response message"] : [status.code, status.details];
        const err = Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: status.metadata }) as grpc.ServiceError;
        reject(fromGrpcError(err, backend));
      },
    });
    call.startRead();
    call.sendMessageWithContext({}, request);
    call.halfClose();
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}
