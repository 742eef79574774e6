/**
 * A capability is one folder, `services/<name>/`, that declares itself in `capability.ts` with
 * defineCapability: its name, the service descriptors it serves, how to build its implementation,
 * and its deployment defaults. Everything that lists every capability (the catalogue, the
 * launcher, the gateway's routes, docker-compose.yml, k8s/, the README's list) is derived from
 * these declarations: at run time from the catalogue, or by `npm run generate`.
 */
import { createRegistry, type DescMethod, type DescService, type Registry } from "@bufbuild/protobuf";
import { file_google_rpc_error_details } from "#gen/google/rpc/error_details_pb.js";
import type { Logger } from "#runtime/logger.js";
import type { ServiceRegistration } from "#runtime/server.js";
import { clean, type ServiceConfig } from "#config/index.js";
import type { CleanedEnv, ValidatorSpec } from "envalid";

export { servicePort } from "#config/index.js";

/** A capability's own environment variables: envalid specs, each with its default and `desc`. */
export type Settings = Record<string, ValidatorSpec<unknown>>;

/** What a capability's implementation is built from. */
export interface CapabilityContext<V = Record<string, unknown>> {
  logger: Logger;
  /** The process environment (for what the platform reads: the blob store, say). */
  env: NodeJS.ProcessEnv;
  /** The capability's own settings, read from the environment by its declaration's `settings` and checked. */
  settings: V;
  /** The service process's configuration (lib/config), read once by the entry point. */
  config: ServiceConfig;
  /**
   * Loads every capability of the deployment (the catalogue), for one that runs others' methods:
   * the jobs service. The others never call it, and so never load the other declarations.
   */
  capabilities(): Promise<readonly Capability[]>;
}

/** A built capability: its registrations, and what to stop after the server has stopped. */
export interface CapabilityInstance {
  services: ServiceRegistration[];
  stop?(): Promise<void>;
}

/** Deployment defaults for compose and Kubernetes. */
export interface CapabilityDeploy {
  /** Replicas (compose) and the autoscaler's minimum. @default 2 */
  replicas?: number;
  /** The autoscaler's maximum. @default 20 */
  maxReplicas?: number;
  /** Memory limit. @default "1Gi" */
  memory?: string;
  /** Memory request: about the process's measured idle RSS (`npm run bench:startup`). @default "128Mi" */
  memoryRequest?: string;
  /** One line on what the service is, for the manifests' comments. */
  summary?: string;
}

/** A capability's declaration. */
export interface Capability<N extends string = string, S extends Settings = Settings> {
  /** Lower-case letters, digits and dashes; names the folder, env vars (envName), manifests and (unless `scope` says otherwise) the API-key scope. */
  name: N;
  /**
   * The API-key scope its services need, and the name users see it under: its REST prefix
   * (`data` for the transform capability's `/api/v1/data/*`). Its `name` stays accepted as a
   * scope too. @default its name
   */
  scope?: string;
  /** The generated service descriptors it serves; the gateway routes every one of them. */
  services: DescService[];
  /**
   * The capabilities it calls over gRPC: it is given their addresses (`LLM_ADDR`, ...) and, under
   * `npm start`, started after them. @default []
   */
  uses?: string[];
  /** Its unary methods can run as jobs, with workers in its own process. @default true */
  jobs?: boolean;
  /**
   * Its own environment variables (envalid specs: default and `desc` each), read and checked when
   * its process starts, documented in docs/operating.md by `npm run generate`. @default {}
   */
  settings?: S;
  /** Builds the implementation; only the capability's own process calls it (import handlers lazily in it). */
  create(context: CapabilityContext<CleanedEnv<S>>): Promise<CapabilityInstance>;
  deploy?: CapabilityDeploy;
}

const namePattern = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/** Declares a capability (checks its name). */
export function defineCapability<const N extends string, S extends Settings = Record<never, never>>(
  capability: Capability<N, S>,
): Capability<N, S> {
  if (!namePattern.test(capability.name)) {
    throw new Error(`capability name "${capability.name}" must be lower-case letters and digits, words joined by "-"`);
  }
  if (capability.services.length === 0) throw new Error(`capability ${capability.name} declares no service`);
  return capability;
}

/** Whether `service`'s unary methods run as jobs (and get `:batch` REST routes): its capability's `jobs`, among `capabilities`. */
export function runsAsJobsAmong(capabilities: readonly Capability[], service: DescService): boolean {
  const owner = capabilities.find((c) => c.services.some((s) => s.typeName === service.typeName));
  return owner !== undefined && owner.jobs !== false;
}

/** A method found by its full name (`pkg.Service/Method`), with the capability that serves it. */
export interface FoundMethod {
  capability: string;
  /** The scopes that let a key run it: the capability's scope, then its name (see scopesOf). */
  scopes: string[];
  service: DescService;
  method: DescMethod;
}

/** The scopes a capability's services accept: its scope (what users see), and its name. */
export function scopesOf(capability: Pick<Capability, "name" | "scope">): string[] {
  return [...new Set([capability.scope ?? capability.name, capability.name])];
}

/** Looks up `pkg.Service/Method` among the capabilities whose methods run as jobs. */
export function findJobMethodAmong(capabilities: readonly Capability[], fullName: string): FoundMethod | undefined {
  const [serviceName, methodName] = fullName.replace(/^\//, "").split("/");
  for (const capability of capabilities) {
    if (capability.jobs === false) continue;
    const service = capability.services.find((s) => s.typeName === serviceName);
    const method = service?.methods.find((m) => m.name === methodName);
    if (service && method) return { capability: capability.name, scopes: scopesOf(capability), service, method };
  }
  return undefined;
}

/** Every message type of the capabilities' services and the error details, for google.protobuf.Any in JSON. */
export function registryOf(capabilities: readonly Capability[]): Registry {
  return createRegistry(file_google_rpc_error_details, ...capabilities.flatMap((c) => c.services.map((s) => s.file)));
}

/** A capability's own settings read from `env` (a ConfigError names every bad variable). */
export function settingsOf<S extends Settings>(
  capability: Capability<string, S>,
  env: NodeJS.ProcessEnv,
): CleanedEnv<S> {
  return clean(env, (capability.settings ?? {}) as S);
}

/** A capability name as an environment variable prefix: `data-transform` → `DATA_TRANSFORM`. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/-/g, "_");
}

/** The variable that gives the gateway a capability's address: `CRYPTO_ADDR`. */
export function addressVariable(name: string): string {
  return `${envName(name)}_ADDR`;
}
