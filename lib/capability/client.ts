/**
 * A capability calling another over gRPC (vector ingestion reads PDFs and embeds through the LLM
 * service): a typed client to the address the environment gives (`LLM_ADDR`), the caller's
 * tenant and key forwarded as the gateway forwards them.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type HandlerContext } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { tenantKey } from "#runtime/context.js";
import { defaultMaxMessageBytes } from "#runtime/config.js";

/** `host:port`, `dns:///host:port` or `ipv4:a:port,b:port` (the first) as an http:// base URL. */
export function baseUrlOf(address: string): string {
  const first = address
    .replace(/^dns:\/\/\/?/, "")
    .replace(/^ipv[46]:/, "")
    .split(",")[0];
  return `http://${first}`;
}

/** A gRPC client of `service` at `address`. */
export function capabilityClient<S extends DescService>(service: S, address: string): Client<S> {
  return createClient(
    service,
    createGrpcTransport({
      baseUrl: baseUrlOf(address),
      readMaxBytes: defaultMaxMessageBytes,
      writeMaxBytes: defaultMaxMessageBytes,
    }),
  );
}

/** Call options acting for the caller of `ctx`: its tenant and key, its cancellation. */
export function asCaller(ctx: HandlerContext): { headers: Record<string, string>; signal: AbortSignal } {
  const headers: Record<string, string> = { "x-flowforge-tenant": ctx.values.get(tenantKey) };
  const key = ctx.requestHeader.get("x-flowforge-key-id");
  if (key) headers["x-flowforge-key-id"] = key;
  return { headers, signal: ctx.signal };
}
