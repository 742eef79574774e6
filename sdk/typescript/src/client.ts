/**
 * The FlowForge client over any Connect transport: a typed client per public service, by the
 * name it answers under (`ff.crypto.hash(...)`, `ff.data.convert(...)`), the key or token sent
 * with every call, errors as FlowForgeError, and the job helpers.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { errorInterceptor } from "./errors.js";
import { services } from "./gen/flowforge/catalog.js";
import { Jobs } from "./jobs.js";

/** How to reach the gateway and who the caller is. */
export interface FlowForgeOptions {
  /** The gateway's URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key or a JWT, sent as `Authorization: Bearer …`. */
  apiKey?: string;
  /** More headers for every call (`x-request-id`, say). */
  headers?: Record<string, string>;
  /** Interceptors run after the SDK's own (auth, errors). */
  interceptors?: Interceptor[];
}

/** Sends `credential` as `Authorization: Bearer …` and `headers` with every call. */
export function authInterceptor(credential: string | undefined, headers: Record<string, string> = {}): Interceptor {
  return (next) => (req) => {
    if (credential) req.header.set("authorization", `Bearer ${credential}`);
    for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
    return next(req);
  };
}

/** The interceptors every FlowForge transport runs: errors as FlowForgeError, then auth, then the caller's. */
export function interceptorsFor(options: FlowForgeOptions): Interceptor[] {
  return [errorInterceptor, authInterceptor(options.apiKey, options.headers), ...(options.interceptors ?? [])];
}

type Services = typeof services;

/** A client per public service, by its name, and the job helpers. */
export type FlowForge = { readonly [K in keyof Services]: Client<Services[K]> } & {
  /** `data`'s service under its capability's other name. */
  readonly transform: Client<Services["data"]>;
  /** Submit, wait for, watch and batch jobs. */
  readonly batches: Jobs;
  /** The transport every client uses. */
  readonly transport: Transport;
  /** A client for any service of the contracts. */
  client<S extends DescService>(service: S): Client<S>;
};

/** A FlowForge client over `transport` (one whose interceptors include `interceptorsFor(options)`). */
export function flowForgeOver(transport: Transport): FlowForge {
  const clients = Object.fromEntries(
    Object.entries(services).map(([name, service]) => [name, createClient(service as DescService, transport)]),
  ) as { [K in keyof Services]: Client<Services[K]> };
  return {
    ...clients,
    transform: clients.data,
    batches: new Jobs(clients.jobs),
    transport,
    client: (service) => createClient(service, transport),
  };
}
