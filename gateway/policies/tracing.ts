/**
 * A span per call (SpanKind.SERVER), child of the caller's `traceparent` when it sent a valid one
 * (a malformed one is ignored: the call starts a trace of its own; the header is used for nothing
 * else), or of the HTTP request's span where an instrumentation made one. The span carries the method, protocol, request id and, once authenticated, the tenant;
 * what the call does after it (the backend call, a job's submit) runs inside it, so the backend
 * gets this span as its parent. Only in the chain when traces are on (lib/runtime/telemetry.ts).
 */
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";
import { requestIdKey, tenantKey } from "#runtime/context.js";
import { contextOf } from "#runtime/telemetry.js";
import type { Policy } from "./policy.js";

/** The tracing policy; install it right after the request id, before the access log. */
export function tracingPolicy(): Policy {
  const tracer = trace.getTracer("flowforge-gateway");
  return (next) => (call) => {
    // Under the HTTP/1.1 request's span when the http instrumentation made one (it read the
    // caller's traceparent); the HTTP/2 front has no instrumentation, so the header is read here.
    const parent = trace.getSpan(context.active())
      ? context.active()
      : contextOf(call.header.get("traceparent") ?? undefined, call.header.get("tracestate") ?? undefined);
    const method = `${call.service.typeName}/${call.method.name}`;
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "rpc.system": call.protocol === "grpc" ? "grpc" : "connect_rpc",
          "rpc.service": call.service.typeName,
          "rpc.method": call.method.name,
          "flowforge.protocol": call.protocol,
          "flowforge.request_id": call.values.get(requestIdKey),
        },
      },
      parent,
    );
    return context.with(trace.setSpan(parent, span), async () => {
      try {
        return await next(call);
      } catch (err) {
        const code = err instanceof ConnectError ? Code[err.code] : "internal";
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
        span.setAttribute("rpc.connect_rpc.error_code", code);
        throw err;
      } finally {
        const tenant = call.values.get(tenantKey);
        if (tenant) span.setAttribute("flowforge.tenant", tenant);
        span.end();
      }
    });
  };
}
