/**
 * The capability catalogue: every capability declared in `services/<name>/capability.ts`, as
 * `npm run generate` lists them in gen/flowforge/capabilities.ts. The gateway routes and the jobs
 * service runs methods of these; nothing here is edited by hand. Importing it loads every
 * declaration: what needs only names (the launcher, a capability process) uses select.ts.
 */
import type { DescService, Registry } from "@bufbuild/protobuf";
import { capabilities } from "#gen/flowforge/capabilities.js";
import {
  type Capability,
  type FoundMethod as FoundAmong,
  findJobMethodAmong,
  registryOf,
  runsAsJobsAmong,
  scopesOf,
} from "#capability/index.js";
import type { CapabilityName } from "./select.js";

export { type CapabilityName, isCapabilityName, selectCapabilities } from "./select.js";

/** Every capability, by name. */
export const catalog = Object.fromEntries(capabilities.map((c) => [c.name, c])) as Record<
  CapabilityName,
  Capability<CapabilityName>
>;

/** Whether a service's unary methods run as jobs (and get `:batch` REST routes): its capability's `jobs`. */
export function runsAsJobs(service: DescService): boolean {
  return runsAsJobsAmong(capabilities, service);
}

/** The scopes that let a key call a fully-qualified service (its capability's scope and name), if it is a capability's. */
export function capabilityScopes(typeName: string): string[] | undefined {
  const c = capabilities.find((c) => c.services.some((s) => s.typeName === typeName));
  return c ? scopesOf(c) : undefined;
}

/** A method found by its full name (`pkg.Service/Method`). */
export type FoundMethod = Omit<FoundAmong, "capability"> & { capability: CapabilityName };

/** Looks up `pkg.Service/Method` among the job capabilities. */
export function findJobMethod(fullName: string): FoundMethod | undefined {
  return findJobMethodAmong(capabilities, fullName) as FoundMethod | undefined;
}

/** Every message type of every service and the error details, for google.protobuf.Any in JSON. */
export function catalogRegistry(): Registry {
  return registryOf(capabilities);
}
