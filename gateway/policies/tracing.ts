/**
 * A span per call (SpanKind.SERVER), child of the HTTP request's span where the http
 * instrumentation made one (HTTP/1.1), else of the caller's `traceparent` when it sent a valid one
 * (a malformed one is ignored: the call starts a trace of its own; the header is used for nothing
 * else). The span carries the method, protocol, request id and, once authenticated, the tenant;
 * what the call does after it (the backend call, a job's submit) runs inside it, so the backend
 * gets this span as its parent. Only in the chain when traces are on (lib/runtime/telemetry.ts).
 */
import { context, trace } from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";
import { requestIdKey, tenantKey } from "#runtime/context.js";
import { inSpan, SpanKind } from "#runtime/telemetry.js";
import type { Policy } from "./policy.js";

/** The tracing policy; install it right after the request id, before the access log. */
export function tracingPolicy(): Policy {
  return (next) => (call) => {
    // The HTTP/2 front has no instrumentation: its caller's context is read from the headers here.
    const underRequest = trace.getSpan(context.active()) !== undefined;
    const options = {
      kind: SpanKind.SERVER,
      traceparent: underRequest ? undefined : (call.header.get("traceparent") ?? ""),
      tracestate: call.header.get("tracestate") ?? undefined,
      attributes: {
        "rpc.system": call.protocol === "grpc" ? "grpc" : "connect_rpc",
        "rpc.service": call.service.typeName,
        "rpc.method": call.method.name,
        "flowforge.protocol": call.protocol,
        "flowforge.request_id": call.values.get(requestIdKey),
      },
    };
    return inSpan(`${call.service.typeName}/${call.method.name}`, options, async (span) => {
      try {
        return await next(call);
      } catch (err) {
        span?.setAttribute("rpc.connect_rpc.error_code", err instanceof ConnectError ? Code[err.code] : "internal");
        throw err;
      } finally {
        const tenant = call.values.get(tenantKey);
        if (tenant) span?.setAttribute("flowforge.tenant", tenant);
      }
    });
  };
}
