/**
 * The scopes an API key (or a JWT's scope claim) may hold. Besides these, every capability's scope
 * (its name, unless it declares another: `data` for transform) is one for its own services
 * (`crypto` for CryptoService, `jobs` for JobService); running a method as a job needs `jobs` and
 * the method's capability's. Listed once here for the gateway, the
 * admin API's checks and the README (written by `npm run generate`).
 */
import { scopesOf } from "#capability/index.js";

/** A scope that is not a capability's name, and what it grants. */
export interface PlatformScope {
  name: string;
  grants: string;
}

/** The scope BlobService needs. */
export const blobsScope = "blobs";

/** The scopes that are not capabilities. */
export const platformScopes: readonly PlatformScope[] = [
  { name: "*", grants: "every capability, jobs and blobs (not admin); a key made without scopes gets it" },
  { name: "admin", grants: "AdminService: API keys, any tenant's usage" },
  { name: blobsScope, grants: "BlobService and `/api/v1/blobs`: the tenant's files, uploaded, read and deleted" },
];

/** Every scope, each once: the platform's, then the capabilities' (`names`). */
export function allScopes(names: Iterable<string>): string[] {
  return [...new Set([...platformScopes.map((s) => s.name), ...names])];
}

/** Every scope a key can hold and what it grants: the platform's, then each capability's under the name users see. */
export function scopeList(
  capabilities: readonly { name: string; scope?: string; services: readonly { typeName: string }[] }[],
): PlatformScope[] {
  return [
    ...platformScopes,
    ...capabilities.map((c) => {
      const [scope, ...aliases] = scopesOf(c);
      const also = aliases.map((a) => ` (\`${a}\`, the capability's name, is accepted too)`).join("");
      return { name: scope, grants: `${c.services.map((s) => `\`${s.typeName}\``).join(", ")}${also}` };
    }),
  ];
}
