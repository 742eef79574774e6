/** The RPC protocol of a call, from its content type: `grpc-web`, `grpc` or `connect`. */
export function protocolOf(header: Headers): "grpc-web" | "grpc" | "connect" {
  const contentType = header.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  return contentType.startsWith("application/grpc") ? "grpc" : "connect";
}
