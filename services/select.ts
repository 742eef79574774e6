/**
 * Choosing capabilities by name without loading them: the launcher and a capability process read
 * only the generated index (names and what each calls), and a process loads its own declaration
 * alone (`loadCapability`), so it parses no other capability's descriptors. The full catalogue is
 * services/catalog.ts.
 */
import { type CapabilityName, capabilityIndex } from "#gen/flowforge/capability-index.js";

export { type CapabilityName, loadCapability } from "#gen/flowforge/capability-index.js";

/** Every capability's name, in the catalogue's order. */
export const capabilityNames = Object.keys(capabilityIndex) as CapabilityName[];

/** The capabilities `name` calls over gRPC (given their addresses at start). */
export function usesOf(name: CapabilityName): readonly CapabilityName[] {
  return capabilityIndex[name].uses as readonly CapabilityName[];
}

/** Whether `name` is a capability of the catalogue. */
export function isCapabilityName(name: string): name is CapabilityName {
  return Object.hasOwn(capabilityIndex, name);
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
  if (asked.length === 0) return [...capabilityNames];
  const unknown = asked.filter((n) => !isCapabilityName(n));
  if (unknown.length > 0)
    throw new Error(
      `FLOWFORGE_CAPABILITIES names ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${capabilityNames.join(", ")}`,
    );
  const chosen = new Set<CapabilityName>();
  const add = (name: CapabilityName) => {
    if (chosen.has(name)) return;
    chosen.add(name);
    for (const used of usesOf(name)) add(used);
  };
  for (const name of [...asked, "jobs"] as CapabilityName[]) add(name);
  return capabilityNames.filter((n) => chosen.has(n));
}
