/** pino loggers for every process: JSON lines, secrets redacted, level from LOG_LEVEL. */
import { pino, type Logger } from "pino";

export type { Logger };

/** Options for createLogger. */
export interface LoggerOptions {
  /** Process or component name, the `name` field of every line. */
  name: string;
  /** pino level; default LOG_LEVEL or "info". */
  level?: string;
  /** Where lines go; default stdout. */
  destination?: pino.DestinationStream;
}

/** Field paths that never reach a log line. */
export const redactedPaths = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.x-api-key",
  "*.headers.authorization",
  "*.headers['x-api-key']",
  "secret",
  "*.secret",
  "password",
  "*.password",
  "passphrase",
  "*.passphrase",
  "key",
  "*.key",
  "apiKey",
  "*.apiKey",
];

/** Creates a JSON logger with the shared redaction rules. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      redact: { paths: redactedPaths, censor: "[redacted]" },
      base: { pid: process.pid },
    },
    options.destination,
  );
}

/**
 * The same logger without the redaction rules, for lines whose every field the code itself
 * chooses (the gateway's access log: ids, method, outcome, duration; never a header or body).
 * Redaction walks every field of a line for the wildcard paths: 12 µs of the 17 µs a line cost.
 */
export function unredacted(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [] } });
}
