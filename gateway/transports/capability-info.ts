import { send } from "./node-http.js";
import type { Req, Res } from "./node-http.js";

/** One REST prefix: the services under it and their health. */
export interface CapabilityInfo {
  /** Fully-qualified names of the services whose routes live under the prefix. */
  services: string[];
  health: () => Promise<{ ok: boolean; body: unknown }>;
}

/** The Prometheus text restricted to samples whose `method` label is one of `services`' methods. */
export function metricsOf(text: string, services: string[]): string {
  const kept: string[] = [];
  const names = new Set<string>();
  const prefixes = services.map((s) => `method="${s}/`);
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    if (!prefixes.some((p) => line.includes(p))) continue;
    kept.push(line);
    names.add(/^[a-zA-Z_:][\w:]*/.exec(line)![0].replace(/_(bucket|sum|count)$/, ""));
  }
  const headers = text.split("\n").filter((l) => /^# (HELP|TYPE) /.test(l) && names.has(l.split(" ")[2]));
  // Each metric's HELP and TYPE lines, then its samples, in the registry's order.
  const out: string[] = [];
  for (const name of names) {
    out.push(...headers.filter((h) => h.split(" ")[2] === name));
    out.push(...kept.filter((l) => l.replace(/[{ ].*$/, "").replace(/_(bucket|sum|count)$/, "") === name));
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

/** Creates the handler; it answers (and returns true for) `/api/v1/<prefix>/health` and `/metrics` only. */
export function createCapabilityInfo(
  prefixes: Map<string, CapabilityInfo>,
  metrics: () => Promise<string>,
): (req: Req, res: Res, path: string) => boolean {
  const answer = (res: Res, type: string, { status, body }: { status: number; body: string }) =>
    send(res, { status, headers: { "content-type": type }, body });
  return (req, res, path) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const m = /^\/api\/v1\/([a-z]+)\/(health|metrics)$/.exec(path);
    const info = m && prefixes.get(m[1]);
    if (!m || !info) return false;
    const written =
      m[2] === "health"
        ? info
            .health()
            .then(({ ok, body }) =>
              answer(res, "application/json", { status: ok ? 200 : 503, body: JSON.stringify(body) }),
            )
        : metrics().then((text) =>
            answer(res, "text/plain; version=0.0.4", { status: 200, body: metricsOf(text, info.services) }),
          );
    written.catch(() =>
      answer(res, "application/json", { status: 503, body: JSON.stringify({ status: "unhealthy" }) }),
    );
    return true;
  };
}
