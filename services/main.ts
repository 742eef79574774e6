/**
 * The one entry point of every capability service: `node dist/services/main.js <name>` (or
 * `CAPABILITY=<name>`; from the sources, `node --import tsx services/main.ts <name>`). Traces start
 * first (when an OTLP endpoint is set), so their instrumentations see every module the service
 * loads; then serve.ts builds and serves the capability.
 */
import { startTelemetry } from "#runtime/telemetry.js";

await startTelemetry(process.argv[2] ?? process.env.CAPABILITY ?? "service");
await import("./serve.js");
