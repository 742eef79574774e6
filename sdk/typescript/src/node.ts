/**
 * @flowforge/sdk/node: the client over Node's own HTTP stack, with gRPC (HTTP/2) as well as
 * Connect and gRPC-Web.
 */
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { type FlowForge, type FlowForgeOptions, flowForgeOver, interceptorsFor } from "./client.js";
import { registry } from "./gen/flowforge/catalog.js";

export * from "./index.js";

/** Options of the Node client. */
export interface NodeOptions extends FlowForgeOptions {
  /** `connect` (the default), `grpc` or `grpc-web`. */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** Binary protobuf instead of JSON (Connect). */
  binary?: boolean;
  /** HTTP/2 for Connect and gRPC-Web too (gRPC always is). */
  http2?: boolean;
}

/** A FlowForge client over Node's HTTP/1.1 or HTTP/2. */
export function createNodeFlowForge(options: NodeOptions): FlowForge {
  const common = {
    baseUrl: options.baseUrl,
    interceptors: interceptorsFor(options),
    jsonOptions: { registry: registry() },
  };
  const httpVersion = options.http2 ? ("2" as const) : ("1.1" as const);
  switch (options.protocol ?? "connect") {
    case "grpc":
      return flowForgeOver(createGrpcTransport(common));
    case "grpc-web":
      return flowForgeOver(createGrpcWebTransport({ ...common, httpVersion }));
    default:
      return flowForgeOver(
        createConnectTransport({ ...common, httpVersion, useBinaryFormat: options.binary ?? false }),
      );
  }
}
