/** Calling a service's real handlers in-process (connect's router transport), and reading its refusals. */
import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  type Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type ServiceImpl,
} from "@connectrpc/connect";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { tenantKey } from "#runtime/context.js";

/** A typed client whose calls run `impl` in-process, and what closes the service. */
export function inProcessClient<S extends DescService>(
  service: S,
  created: { impl: ServiceImpl<S>; close?: () => Promise<void> },
): { client: Client<S>; close: () => Promise<void> } {
  const client = createClient(
    service,
    createRouterTransport(({ service: add }) => add(service, created.impl)),
  );
  return { client, close: created.close ?? (async () => {}) };
}

/**
 * A typed client whose calls run `impl` in-process, acting for the tenant its calls name in
 * `x-flowforge-tenant` (the header the gateway forwards and lib/runtime/grpc-adapter.ts reads).
 */
export function tenantClient<S extends DescService>(service: S, impl: ServiceImpl<S>): Client<S> {
  const transport = createRouterTransport(({ service: add }) => add(service, impl), {
    router: {
      interceptors: [
        (next) => (req) => {
          req.contextValues.set(tenantKey, req.header.get("x-flowforge-tenant") ?? "");
          return next(req);
        },
      ],
    },
  });
  return createClient(service, transport);
}

/** Call options acting for `tenant` (with tenantClient). */
export const asTenant = (tenant: string, headers: Record<string, string> = {}) => ({
  headers: { "x-flowforge-tenant": tenant, ...headers },
});

/** Awaits a call that must fail; returns its error. */
export async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

/** Awaits a call that must fail; returns its code, violated fields and message. */
export async function failure(call: Promise<unknown>): Promise<{ code: Code; fields: string[]; message: string }> {
  const err = await errorOf(call);
  const fields = err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
  return { code: err.code, fields, message: err.rawMessage };
}
