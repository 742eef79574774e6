/**
 * Where a webhook may go. Only globally reachable unicast addresses are allowed: every
 * special-purpose range of the IANA IPv4 and IPv6 registries is refused (ipaddr.js's ranges),
 * IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4) are decoded and judged as
 * IPv4, and Teredo is refused. A host name is resolved once, every address it gives is checked,
 * and the request then connects to the address that was checked (no second lookup for DNS
 * rebinding to change).
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";

/** A CIDR block: an address and its prefix length. */
export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Which private or special-purpose targets the operator allows: none (`false`), all (`true`),
 * or only those inside the listed blocks (a self-hosted n8n on `10.0.0.0/8`, say).
 */
export type PrivateTargets = boolean | Cidr[];

/** Parses `10.0.0.0/8, fd00::/8`; throws naming the entry that is not a CIDR block. */
export function parseCidrs(text: string): Cidr[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      try {
        return ipaddr.parseCIDR(part);
      } catch {
        throw new Error(`"${part}" is not a CIDR block such as 10.0.0.0/8 or fd00::/8`);
      }
    });
}

/** Whether `address` lies inside one of `blocks` (an IPv4-mapped IPv6 address counts as IPv4). */
function inside(address: string, blocks: Cidr[]): boolean {
  const parsed = ipaddr.process(address);
  return blocks.some(([range, bits]) => parsed.kind() === range.kind() && parsed.match(range, bits));
}

/** Resolves a host name to its addresses (node:dns by default; tests pass their own). */
export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (host) => dnsLookup(host, { all: true });

/** IPv6 blocks whose addresses are special-purpose even where ipaddr.js calls them unicast. */
const specialV6 = [
  ipaddr.parseCIDR("2001::/23"), // IETF protocol assignments (Teredo, benchmarking, ORCHID, AMT, ...)
  ipaddr.parseCIDR("64:ff9b:1::/48"), // local-use IPv4/IPv6 translation
  ipaddr.parseCIDR("5f00::/16"), // SRv6 SIDs
  ipaddr.parseCIDR("3fff::/20"), // documentation
];

function ipv4Problem(address: ipaddr.IPv4): string | undefined {
  const range = address.range();
  return range === "unicast" ? undefined : `${address.toString()} is a special-purpose address (${range})`;
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64 64:ff9b::/96, 6to4), if any. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = address.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  if (p.slice(0, 6).every((x) => x === 0)) return v4(p[6], p[7]); // IPv4-compatible (deprecated)
  if (p[0] === 0x64 && p[1] === 0xff9b && p.slice(2, 6).every((x) => x === 0)) return v4(p[6], p[7]); // NAT64
  if (p[0] === 0x2002) return v4(p[1], p[2]); // 6to4
  return undefined;
}

/** Why a webhook may not connect to `address`, or undefined when it may. */
export function addressProblem(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") return ipv4Problem(parsed as ipaddr.IPv4);
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  if (range === "unspecified" || range === "loopback") return `${address} is a special-purpose address (${range})`;
  const embedded = embeddedIPv4(v6);
  if (embedded) return ipv4Problem(embedded);
  if (range !== "unicast" || specialV6.some((cidr) => v6.match(cidr)))
    return `${address} is a special-purpose address (${range === "unicast" ? "reserved" : range})`;
  return undefined;
}

/** A webhook URL with the address to connect to (undefined: let the system resolve, private targets allowed). */
export interface WebhookTarget {
  url: URL;
  address?: { address: string; family: number };
}

/**
 * Checks a webhook URL and pins the address it will be sent to; `problem` says why it is refused.
 * A private address is accepted only where `allowPrivate` says.
 */
export async function resolveWebhookTarget(
  url: string,
  allowPrivate: PrivateTargets,
  resolve: Resolver = systemResolver,
): Promise<WebhookTarget | { problem: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: "not a URL" };
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return { problem: "must be http or https" };
  if (parsed.username || parsed.password) return { problem: "must not carry credentials" };
  if (allowPrivate === true) return { url: parsed };
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  let addresses: { address: string; family: number }[];
  try {
    addresses = ipaddr.isValid(host) ? [{ address: host, family: host.includes(":") ? 6 : 4 }] : await resolve(host);
  } catch {
    return { problem: `cannot resolve ${host}` };
  }
  if (addresses.length === 0) return { problem: `cannot resolve ${host}` };
  for (const a of addresses) {
    const problem = addressProblem(a.address);
    if (problem && Array.isArray(allowPrivate) && inside(a.address, allowPrivate)) continue;
    if (problem) return { problem: `points to a private or special-purpose address: ${problem}` };
  }
  return { url: parsed, address: addresses[0] };
}

/** The result of one delivery attempt. */
export interface PostResult {
  status: number;
}

/** POSTs `body` to the target, connecting to its pinned address (TLS still verifies the host name). */
export function postToTarget(
  target: WebhookTarget,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<PostResult> {
  const pinned = target.address;
  const lookup: LookupFunction | undefined = pinned
    ? (_host, options, callback) => {
        if ((options as { all?: boolean }).all)
          (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
        else callback(null, pinned.address, pinned.family);
      }
    : undefined;
  // No pooled connection: one made for another address (or another check) must not be reused.
  const options: RequestOptions = {
    method: "POST",
    headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
    lookup,
    timeout: timeoutMs,
    agent: false,
  };
  const send = target.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target.url, options, (res: IncomingMessage) => {
      res.resume(); // the answer's body is not needed
      res.once("end", () => resolve({ status: res.statusCode ?? 0 }));
      res.once("error", reject);
    });
    req.once("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once("error", reject);
    req.end(body);
  });
}
