/** Picking ports on loopback, and reading `host:port` addresses. */
import { createServer } from "node:net";

/** A port free on 127.0.0.1 right now (the launcher hands these to the processes it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `host:port` or `[v6]:port` into its parts (port 0–65535), or undefined if it is neither. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  return m && port <= 65535 ? { host: m[1] ?? m[2], port } : undefined;
}
