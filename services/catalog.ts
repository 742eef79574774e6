/**
 * The capability catalogue: every capability declared in `services/<name>/capability.ts`, as
 * `npm run generate` lists them in gen/flowforge/capabilities.ts. The gateway routes, the launcher
 * starts and the jobs service runs methods of these; nothing here is edited by hand.
 */
import type { DescService, Registry } from "@bufbuild/protobuf";
import { capabilities } from "#gen/flowforge/capabilities.js";
import {
  type Capability,
  type FoundMethod as FoundAmong,
  findJobMethodAmong,
  registryOf,
  runsAsJobsAmong,
} from "#capability/index.js";

/** A capability's short name. */
export type CapabilityName = (typeof capabilities)[number]["name"];

/** Every capability, by name. */
export const catalog = Object.fromEntries(capabilities.map((c) => [c.name, c])) as Record<
  CapabilityName,
  Capability<CapabilityName>
>;

/** Whether `name` is a capability of the catalogue. */
export function isCapabilityName(name: string): name is CapabilityName {
  return Object.hasOwn(catalog, name);
}

/**
 * The capabilities a deployment runs: those `list` names (comma-separated, as
 * `FLOWFORGE_CAPABILITIES` gives them) with the jobs service and every capability they call, or
 * all of them when it names none. An unknown name is an error naming it and the known ones.
 */
export function selectCapabilities(list: string | undefined): CapabilityName[] {
  const asked = (list ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  if (asked.length === 0) return Object.keys(catalog) as CapabilityName[];
  const unknown = asked.filter((n) => !isCapabilityName(n));
  if (unknown.length > 0)
    throw new Error(
      `FLOWFORGE_CAPABILITIES names ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${Object.keys(catalog).join(", ")}`,
    );
  const chosen = new Set<CapabilityName>();
  const add = (name: CapabilityName) => {
    if (chosen.has(name)) return;
    chosen.add(name);
    for (const used of catalog[name].uses ?? []) if (isCapabilityName(used)) add(used);
  };
  for (const name of [...asked, "jobs"] as CapabilityName[]) add(name);
  return (Object.keys(catalog) as CapabilityName[]).filter((n) => chosen.has(n));
}

/** Whether a service's unary methods run as jobs (and get `:batch` REST routes): its capability's `jobs`. */
export function runsAsJobs(service: DescService): boolean {
  return runsAsJobsAmong(capabilities, service);
}

/** The capability that serves a fully-qualified service name, if any. */
export function capabilityOf(typeName: string): CapabilityName | undefined {
  return capabilities.find((c) => c.services.some((s) => s.typeName === typeName))?.name;
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
