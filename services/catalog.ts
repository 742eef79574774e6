/**
 * The capability catalogue: every service the gateway routes and the launcher starts. Adding a
 * capability means adding its generated descriptor here, its handlers in `implementations.ts`
 * and a `services/<name>/main.ts`.
 */
import { createRegistry, type DescMethod, type DescService, type Registry } from "@bufbuild/protobuf";
import { CryptoService } from "../gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService } from "../gen/flowforge/jobs/v1/jobs_pb.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";

/** One service process. */
export interface Capability {
  /** The generated service descriptor. */
  service: DescService;
  /** Its gRPC port when none is configured. */
  defaultPort: number;
  /** The process entry point, relative to the repository root. */
  entry: string;
}

/** Every service process, by short name (the name used in scopes, env vars and manifests). */
export const catalog = {
  crypto: { service: CryptoService, defaultPort: 50051, entry: "services/crypto/main.ts" },
  jobs: { service: JobService, defaultPort: 50050, entry: "services/jobs/main.ts" },
} satisfies Record<string, Capability>;

/** A service's short name. */
export type CapabilityName = keyof typeof catalog;

/** Services whose unary methods can run as jobs (everything but the jobs service itself). */
export const jobCapabilities = (Object.keys(catalog) as CapabilityName[]).filter((n) => n !== "jobs");

/** The capability that owns a fully-qualified service name, if any. */
export function capabilityOf(typeName: string): CapabilityName | undefined {
  return (Object.keys(catalog) as CapabilityName[]).find((name) => catalog[name].service.typeName === typeName);
}

/** A method found by its full name (`pkg.Service/Method`). */
export interface FoundMethod {
  capability: CapabilityName;
  service: DescService;
  method: DescMethod;
}

/** Looks up `pkg.Service/Method` among the job capabilities. */
export function findJobMethod(fullName: string): FoundMethod | undefined {
  const [serviceName, methodName] = fullName.replace(/^\//, "").split("/");
  for (const capability of jobCapabilities) {
    const service = catalog[capability].service;
    if (service.typeName !== serviceName) continue;
    const method = service.methods.find((m) => m.name === methodName);
    return method ? { capability, service, method } : undefined;
  }
  return undefined;
}

/** Every message type of every service and the error details, for google.protobuf.Any in JSON. */
export function catalogRegistry(): Registry {
  return createRegistry(file_google_rpc_error_details, ...Object.values(catalog).map((c) => c.service.file));
}
