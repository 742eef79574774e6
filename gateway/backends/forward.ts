/**
 * Descriptor-driven forwarding: for every method of a service, a handler that re-encodes the
 * request as protobuf and calls the backend over gRPC, with the caller's deadline, request
 * id, tenant and trace context. No per-method code: a new RPC in a .proto is forwarded after
 * `npm run generate`.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type { ContextValues, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { requestIdKey, tenantKey } from "#runtime/context.js";
import { injectTraceContext } from "#runtime/telemetry.js";
import { failureOf, fromGrpcError, type Backend } from "./backends.js";
import { principalKey } from "../policies/auth.js";
import { unaryCall } from "./unary-call.js";
import type { RequestHeaders } from "../policies/policy.js";

/** Options for createForwardingService. */
export interface ForwardOptions {
  /** Deadline applied to unary calls that bring none. */
  defaultTimeoutMs: number;
}

const forwardedHeaders = ["traceparent", "tracestate", "baggage"];

/** What the backend learns about a call, as HTTP/2 headers: request id, tenant, scopes and trace context. */
export function metadataFor(values: ContextValues, requestHeader: RequestHeaders): Record<string, string> {
  const md: Record<string, string> = { "x-request-id": values.get(requestIdKey) };
  const tenant = values.get(tenantKey);
  if (tenant) md["x-flowforge-tenant"] = tenant;
  const principal = values.get(principalKey);
  if (principal) {
    md["x-flowforge-scopes"] = principal.scopes.join(",");
    md["x-flowforge-key-id"] = principal.keyId;
    // The user id: the token's subject, or the API key's id.
    md["x-user-id"] = principal.userId ?? principal.keyId;
  }
  for (const h of forwardedHeaders) {
    const v = requestHeader.get(h);
    if (v) md[h] = v;
  }
  // With traces on, the backend's parent is the gateway's span of this call (not the caller's).
  injectTraceContext(md);
  return md;
}

/** The same for a grpc-js call. */
function grpcMetadataFor(context: HandlerContext): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadataFor(context.values, context.requestHeader))) md.set(k, v);
  return md;
}

function callOptions(context: HandlerContext, fallbackMs?: number): grpc.CallOptions {
  const remaining = context.timeoutMs() ?? fallbackMs;
  return remaining === undefined ? {} : { deadline: Date.now() + remaining };
}

function codec(method: DescMethod) {
  return {
    serialize: (m: unknown) => Buffer.from(toBinary(method.input, create(method.input, m as never))),
    deserialize: (b: Buffer) => fromBinary(method.output, b),
  };
}

/** Streams a grpc-js readable call as an async iterable, mapping its error. */
async function* readCall<T>(call: grpc.ClientReadableStream<T>, backend: Backend): AsyncIterable<T> {
  try {
    for await (const message of call) yield message as T;
  } catch (err) {
    throw fromGrpcError(failureOf(err as grpc.ServiceError), backend);
  }
}

/**
 * Builds a connect ServiceImpl that forwards every unary and server-streaming method of `service`
 * to `backend` (no contract has client or bidi streams; such a method would answer unimplemented).
 */
export function createForwardingService(
  service: DescService,
  backend: Backend,
  options: ForwardOptions,
): ServiceImpl<DescService> {
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const path = `/${service.typeName}/${method.name}`;
    const { serialize, deserialize } = codec(method);
    const client = backend.client;
    switch (method.methodKind) {
      case "unary":
        impl[method.localName] = async (req: unknown, context: HandlerContext) => {
          const deadline = callOptions(context, options.defaultTimeoutMs).deadline as number;
          return deserialize(
            await unaryCall(backend, {
              path,
              message: serialize(req),
              headers: metadataFor(context.values, context.requestHeader),
              deadline,
              signal: context.signal,
            }),
          );
        };
        break;
      case "server_streaming":
        impl[method.localName] = (req: unknown, context: HandlerContext) => {
          const call = client.makeServerStreamRequest(
            path,
            serialize,
            deserialize,
            req,
            grpcMetadataFor(context),
            callOptions(context),
          );
          context.signal.addEventListener("abort", () => call.cancel(), { once: true });
          return readCall(call, backend);
        };
        break;
    }
  }
  return impl as ServiceImpl<DescService>;
}
