/** Process lifecycle shared by every FlowForge process. */
import type { Logger } from "./logger.js";

/**
 * Runs `stop` once on SIGTERM, SIGINT or when the parent (the launcher) goes away, then exits
 * 0; logs unhandled rejections instead of dying on them.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const run = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "shutting down");
    try {
      await stop();
      logger.info("stopped");
      process.exit(0);
    } catch (err) {
      logger.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void run("SIGTERM"));
  process.on("SIGINT", () => void run("SIGINT"));
  process.on("disconnect", () => void run("parent exited"));
  process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));
}

/** Tells the launcher (when there is one) that this process is listening, and where it serves metrics. */
export function reportReady(name: string, port: number, metricsPort?: number): void {
  process.send?.({ type: "ready", name, port, ...(metricsPort === undefined ? {} : { metricsPort }) });
}
