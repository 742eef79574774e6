/** Per-call values every handler can read from `context.values`. */
import { randomUUID } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";
import type { Logger } from "./logger.js";

/** The request id of the call (from `x-request-id` or generated at the edge). */
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** The process logger, for handlers and workers that log (bind the request id with .child). */
export const loggerKey = createContextKey<Logger | undefined>(undefined, { description: "call logger" });

/** The tenant the call acts for, set by the gateway from the API key. Empty when unknown. */
export const tenantKey = createContextKey<string>("", { description: "tenant id" });

/**
 * How a handler reports progress on long work. A unary call ignores reports; a job records
 * them and streams them to watchers.
 */
export type ProgressReporter = (progress: { message?: string; fraction?: number }) => void;

/** The call's progress reporter; a no-op outside jobs. */
export const progressKey = createContextKey<ProgressReporter>(() => {}, { description: "progress reporter" });

/** The caller's request id when it is a sane token (at most 128 characters), else a new UUID. */
export function acceptRequestId(value: string | undefined): string {
  return value && /^[\w.:@/+=-]{1,128}$/.test(value) ? value : randomUUID();
}
