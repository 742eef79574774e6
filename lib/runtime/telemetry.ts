/**
 * OpenTelemetry traces for every process, configured by the standard `OTEL_*` variables
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`,
 * `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_BSP_*`, ...) and off when no endpoint is
 * set: then nothing is loaded and the helpers below only run their function. On, the SDK starts
 * before the process's own modules load (each entry point imports them after startTelemetry), with
 * the maintained instrumentations for grpc-js, http, ioredis, undici (fetch) and pino (the trace
 * id on log lines); W3C trace context crosses what no instrumentation covers by hand: the
 * gateway's HTTP/2 front and channel, the job bus (a task's `traceparent`) and webhooks.
 */
import {
  type Attributes,
  context,
  DiagLogLevel,
  diag,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";

/** Whether traces are exported from this process (an OTLP endpoint is set and the SDK not disabled). */
export function telemetryEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === "true" || env.OTEL_TRACES_EXPORTER === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

let shutdown: (() => Promise<void>) | undefined;

/**
 * Starts the SDK for the process named `service` (OTEL_SERVICE_NAME wins) when telemetryEnabled;
 * call it before importing anything it instruments. Returns once the import hook is in place.
 */
export async function startTelemetry(service: string): Promise<void> {
  if (!telemetryEnabled() || shutdown) return;
  const { register } = await import("node:module");
  const { createAddHookMessageChannel } = await import("import-in-the-middle");
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register("import-in-the-middle/hook.mjs", import.meta.url, registerOptions);
  const [{ NodeSDK }, grpc, http, ioredis, undici, pino] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/instrumentation-grpc"),
    import("@opentelemetry/instrumentation-http"),
    import("@opentelemetry/instrumentation-ioredis"),
    import("@opentelemetry/instrumentation-undici"),
    import("@opentelemetry/instrumentation-pino"),
  ]);
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? `flowforge-${service}`,
    instrumentations: [
      new grpc.GrpcInstrumentation(),
      new http.HttpInstrumentation(),
      new ioredis.IORedisInstrumentation(),
      new undici.UndiciInstrumentation(),
      // The trace and span ids on every log line written inside a span.
      new pino.PinoInstrumentation({ disableLogSending: true }),
    ],
  });
  sdk.start();
  // The SDK reports what it drops (its export queue full: the endpoint down or hanging) as a
  // diagnostic: counted here. Its other diagnostics are not logged (an endpoint that is down would
  // put a line in the log at every export).
  const { countDroppedSpans } = await import("./metrics.js");
  const report = (message: string) => {
    const dropped = /Dropped (\d+) spans/.exec(message);
    if (dropped) countDroppedSpans(Number(dropped[1]));
  };
  diag.setLogger(
    { error: report, warn: report, info: () => undefined, debug: () => undefined, verbose: () => undefined },
    DiagLogLevel.WARN,
  );
  shutdown = () => sdk.shutdown();
  await waitForAllMessagesAcknowledged();
}

/** Flushes and stops the SDK (on shutdown); nothing when it never started. */
export async function stopTelemetry(): Promise<void> {
  await shutdown?.().catch(() => undefined);
}

/** A header record as W3C propagation reads and writes it. */
type Carrier = Record<string, string>;

/** The trace context of `traceparent` (and `tracestate`), or none when absent or malformed. */
export function contextOf(traceparent: string | undefined, tracestate?: string) {
  if (!traceparent) return ROOT_CONTEXT;
  const carrier: Carrier = { traceparent, ...(tracestate ? { tracestate } : {}) };
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** The `traceparent` of the active span, or `fallback` when there is none (traces off). */
export function activeTraceparent(fallback = ""): string {
  const carrier: Carrier = {};
  injectTraceContext(carrier);
  return carrier.traceparent ?? fallback;
}

/** Writes the active trace context into `headers` (over what was there); nothing when traces are off. */
export function injectTraceContext(headers: Carrier): void {
  propagation.inject(context.active(), headers);
}

/** Options for inSpan. */
export interface SpanOptions {
  kind?: SpanKind;
  /** The parent: a `traceparent` (with its `tracestate`), or the active context when unset. */
  traceparent?: string;
  tracestate?: string;
  attributes?: Attributes;
}

/**
 * Runs `fn` inside a new span (ended when it settles, marked an error when it throws: with its
 * code's name for a ConnectError); without telemetry it only runs `fn`.
 */
export function inSpan<T>(name: string, options: SpanOptions, fn: (span?: Span) => Promise<T>): Promise<T> {
  if (!shutdown) return fn();
  const parent =
    options.traceparent === undefined ? context.active() : contextOf(options.traceparent, options.tracestate);
  const span = trace
    .getTracer("flowforge")
    .startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      const message = err instanceof ConnectError ? Code[err.code] : (err as Error).message;
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Whether this process exports traces (startTelemetry ran and started the SDK). */
export function tracing(): boolean {
  return shutdown !== undefined;
}

export { SpanKind };
