/**
 * @flowforge/sdk: FlowForge's contracts as TypeScript — every message and service, a typed
 * client per service, errors that name the field, and jobs — over Connect or gRPC-Web (fetch:
 * browsers, Node, Deno, Bun). `@flowforge/sdk/node` adds gRPC and HTTP/2.
 */
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { type FlowForge, type FlowForgeOptions, flowForgeOver, interceptorsFor } from "./client.js";
import { registry } from "./gen/flowforge/catalog.js";

export { authInterceptor, type FlowForge, type FlowForgeOptions, flowForgeOver, interceptorsFor } from "./client.js";
export { errorInterceptor, type FieldViolation, FlowForgeError } from "./errors.js";
export { enumChoices, enumValueName, isFileMessage, SpellingError, spellEnums } from "./input.js";
export { comments, registry, services } from "./gen/flowforge/catalog.js";
export { Jobs, methodName, type Outcome, outcomes, type Progress, type SubmitOptions } from "./jobs.js";

/** Options of the fetch-based client. */
export interface FetchOptions extends FlowForgeOptions {
  /** `connect` (JSON, the default) or `grpc-web`. */
  protocol?: "connect" | "grpc-web";
  /** Binary protobuf instead of JSON (Connect). */
  binary?: boolean;
  fetch?: typeof globalThis.fetch;
}

/** A FlowForge client over fetch: Connect (JSON or binary) or gRPC-Web. */
export function createFlowForge(options: FetchOptions): FlowForge {
  const common = {
    baseUrl: options.baseUrl,
    interceptors: interceptorsFor(options),
    jsonOptions: { registry: registry() },
    fetch: options.fetch,
  };
  return flowForgeOver(
    options.protocol === "grpc-web"
      ? createGrpcWebTransport(common)
      : createConnectTransport({ ...common, useBinaryFormat: options.binary ?? false }),
  );
}
