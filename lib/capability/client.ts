/**
 * A capability calling another over gRPC (vector ingestion reads PDFs and embeds through the LLM
 * service): a typed client to the address the environment gives (`LLM_ADDR`), the caller's
 * tenant and key forwarded as the gateway forwards them.
 */
import type { DescService } from "@bufbuild/protobuf";
import { lookup } from "node:dns/promises";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type HandlerContext,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { tenantKey } from "#runtime/context.js";
import { defaultMaxMessageBytes } from "#runtime/config.js";
import { authorityOf, parseTarget } from "#runtime/ports.js";

/** Options for capabilityClient. */
export interface CapabilityClientOptions {
  /** How often a DNS target is resolved again; default 30 s (and at the next call after a backend was unavailable). */
  refreshMs?: number;
  /** Resolver for DNS targets (tests); default every address `dns.lookup` returns. */
  resolve?: (host: string) => Promise<string[]>;
}

const defaultResolve = async (host: string) => (await lookup(host, { all: true })).map((a) => a.address);

/**
 * A transport that spreads calls round robin over every backend of `target` (`host:port`,
 * `dns:///host:port` — every address DNS gives, as for a headless Service —, `ipv4:a:port,b:port`),
 * one HTTP/2 connection each, as the gateway's channels do: one connection to a Service's first
 * address would send every call to one replica.
 */
export function balancedTransport(target: string, options: CapabilityClientOptions = {}): Transport {
  const parsed = parseTarget(target);
  const refreshMs = options.refreshMs ?? 30_000;
  const resolve = options.resolve ?? defaultResolve;
  const transports = new Map<string, Transport>();
  const transportOf = (authority: string) => {
    let t = transports.get(authority);
    if (!t) {
      t = createGrpcTransport({
        baseUrl: `http://${authority}`,
        readMaxBytes: defaultMaxMessageBytes,
        writeMaxBytes: defaultMaxMessageBytes,
        // A backend DNS no longer gives is dropped here; its idle connection then closes.
        idleConnectionTimeoutMs: 60_000,
      });
      transports.set(authority, t);
    }
    return t;
  };
  let authorities = "fixed" in parsed ? parsed.fixed : [authorityOf(parsed.host, parsed.port)];
  let resolvedAt = 0;
  let resolved = false;
  let resolving: Promise<void> | undefined;
  let turn = 0;

  async function next(): Promise<Transport> {
    if (!("fixed" in parsed) && Date.now() - resolvedAt >= refreshMs && !resolving) {
      resolving = resolve(parsed.host)
        .then(
          (hosts) => {
            if (hosts.length === 0) return;
            authorities = [...new Set(hosts.map((h) => authorityOf(h, parsed.port)))];
            for (const a of transports.keys()) if (!authorities.includes(a)) transports.delete(a);
          },
          () => {}, // the addresses known last stay in use (at first, the name itself)
        )
        .finally(() => {
          resolvedAt = Date.now();
          resolved = true;
          resolving = undefined;
        });
    }
    // The first call waits for the addresses; later ones use the last known while DNS answers.
    if (!resolved && resolving) await resolving;
    return transportOf(authorities[turn++ % authorities.length]);
  }
  /** A backend that could not be reached: resolve again at the next call. */
  const watch = <T>(call: Promise<T>) =>
    call.catch((err: unknown) => {
      if (ConnectError.from(err).code === Code.Unavailable) resolvedAt = 0;
      throw err;
    });

  return {
    unary: async (method, signal, timeoutMs, header, input, contextValues) =>
      watch((await next()).unary(method, signal, timeoutMs, header, input, contextValues)),
    stream: async (method, signal, timeoutMs, header, input, contextValues) =>
      watch((await next()).stream(method, signal, timeoutMs, header, input, contextValues)),
  };
}

/** A gRPC client of `service` at `address`, its calls spread over every backend the address names. */
export function capabilityClient<S extends DescService>(
  service: S,
  address: string,
  options?: CapabilityClientOptions,
): Client<S> {
  return createClient(service, balancedTransport(address, options));
}

/** Call options acting for the caller of `ctx`: its tenant and key, its cancellation. */
export function asCaller(ctx: HandlerContext): { headers: Record<string, string>; signal: AbortSignal } {
  const headers: Record<string, string> = { "x-flowforge-tenant": ctx.values.get(tenantKey) };
  const key = ctx.requestHeader.get("x-flowforge-key-id");
  if (key) headers["x-flowforge-key-id"] = key;
  return { headers, signal: ctx.signal };
}
