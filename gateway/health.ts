/**
 * `GET /health`, the status report docs/operating.md documents: `{"status": "healthy" | "degraded" | "unhealthy", "version",
 * "uptime", "checks": {"database", "redis", "nats", "<capability>"...}}`, 503 unless healthy.
 * Unhealthy when the database is down (nothing works without it), degraded when another part is.
 * Each check is bounded in time; a failed one says so without the error's detail.
 */

/** One part's health. */
export interface Check {
  status: "healthy" | "unhealthy";
  /** How long the check took. */
  latencyMs?: number;
  /** For a part run in-process: how (`in-memory`, `embedded`). */
  mode?: string;
}

/** What `/health` answers. */
export interface StatusReport {
  status: "healthy" | "degraded" | "unhealthy";
  version: string;
  /** Seconds since the gateway started. */
  uptime: number;
  checks: Record<string, Check>;
}

/** A part to check: a probe that resolves when it is healthy, or a fixed answer for an in-process part. */
export type Probe = (() => Promise<unknown>) | { mode: string };

/** How long one probe may take. */
const probeTimeoutMs = 2000;

async function run(probe: Probe): Promise<Check> {
  if (typeof probe !== "function") return { status: "healthy", mode: probe.mode };
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timeout")), probeTimeoutMs);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { status: "healthy", latencyMs: Math.round(performance.now() - start) };
  } catch {
    return { status: "unhealthy", latencyMs: Math.round(performance.now() - start) };
  } finally {
    clearTimeout(timer);
  }
}

/** Builds the `/health` report from probes; `database` is the one part without which the gateway is unhealthy. */
export function createStatusReport(version: string, probes: () => Record<string, Probe>) {
  const started = Date.now();
  return async (): Promise<{ ok: boolean; body: StatusReport }> => {
    const entries = Object.entries(probes());
    const results = await Promise.all(entries.map(async ([name, probe]) => [name, await run(probe)] as const));
    const checks = Object.fromEntries(results);
    const down = results.filter(([, c]) => c.status !== "healthy").map(([name]) => name);
    const status = down.length === 0 ? "healthy" : down.includes("database") ? "unhealthy" : "degraded";
    return {
      ok: status === "healthy",
      body: { status, version, uptime: Math.round((Date.now() - started) / 1000), checks },
    };
  };
}
