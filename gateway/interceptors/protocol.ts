/** What the access log and the metrics say of a call: its protocol and its outcome code. */
import { Code, ConnectError } from "@connectrpc/connect";

/** The RPC protocol of a call, from its content type: `grpc-web`, `grpc` or `connect`. */
export function protocolOf(header: Headers): "grpc-web" | "grpc" | "connect" {
  const contentType = header.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  return contentType.startsWith("application/grpc") ? "grpc" : "connect";
}

/** The code a failed call ends with: `Canceled` when its client went away (whatever broke because of it), else the error's. */
export function outcomeCode(signal: AbortSignal, err: unknown): Code {
  const code = ConnectError.from(err).code;
  return signal.aborted && code !== Code.DeadlineExceeded ? Code.Canceled : code;
}
