/**
 * The browser-side client of the web console: typed clients for any FlowForge service over
 * connect-web, with the API key attached. The console UI builds on this (a later issue).
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { flowforgeRegistry } from "../../gen/flowforge/registry.js";

/** Options for createFlowForgeClient. */
export interface FlowForgeClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** `connect` (JSON, the default) or `grpc-web` (binary). */
  protocol?: "connect" | "grpc-web";
}

/** A typed client for `service` through the gateway, as a browser would use it. */
export function createFlowForgeClient<S extends DescService>(service: S, options: FlowForgeClientOptions): Client<S> {
  const auth: Interceptor = (next) => (req) => {
    if (options.apiKey) req.header.set("authorization", `Bearer ${options.apiKey}`);
    return next(req);
  };
  const transport =
    options.protocol === "grpc-web"
      ? createGrpcWebTransport({ baseUrl: options.baseUrl, interceptors: [auth] })
      : createConnectTransport({
          baseUrl: options.baseUrl,
          interceptors: [auth],
          jsonOptions: { registry: flowforgeRegistry() },
        });
  return createClient(service, transport);
}
