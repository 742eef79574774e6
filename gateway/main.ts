/**
 * The gateway process's entry point: traces start first (when an OTLP endpoint is set), so their
 * instrumentations see every module the gateway loads; then serve.ts runs it.
 */
import { startTelemetry } from "#runtime/telemetry.js";

await startTelemetry("gateway");
await import("./serve.js");
