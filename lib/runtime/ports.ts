/** Picking ports on loopback, and reading `host:port` addresses and gRPC targets. */
import { createServer, isIP } from "node:net";

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

/** A gRPC target: fixed addresses, or a host whose every DNS address is a backend. */
export type Target = { fixed: string[] } | { host: string; port: number };

/** `[v6]:port` or `host:port` into its parts. */
function hostPort(s: string, target: string): { host: string; port: number } {
  const parts = splitHostPort(s);
  if (!parts || parts.port === 0)
    throw new Error(`backend address "${target}" must name a host and a port, e.g. dns:///crypto:50051`);
  return parts;
}

/** `host:port`, with an IPv6 host in brackets. */
export const authorityOf = (host: string, port: number) => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);

/** Reads a target the way grpc-js does: `host:port`, `dns:///host:port`, `ipv4:a:port,b:port`, `ipv6:[a]:port`. */
export function parseTarget(target: string): Target {
  const fixed = /^ipv[46]:(.+)$/.exec(target);
  if (fixed) {
    return {
      fixed: fixed[1].split(",").map((a) => {
        const { host, port } = hostPort(a, target);
        if (!isIP(host)) throw new Error(`backend address "${target}" lists "${host}", which is not an IP address`);
        return authorityOf(host, port);
      }),
    };
  }
  const dns = /^dns:(?:\/\/[^/]*\/)?(.+)$/.exec(target);
  if (!dns && /^[a-z][a-z0-9+.-]*:\/\//i.test(target))
    throw new Error(`backend address "${target}": only dns:, ipv4: and ipv6: targets are supported`);
  const { host, port } = hostPort(dns ? dns[1] : target, target);
  return isIP(host) ? { fixed: [authorityOf(host, port)] } : { host, port };
}
