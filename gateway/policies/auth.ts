/** API-key authentication and scope checks for every capability call. */
import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import { tenantKey } from "#runtime/context.js";
import { capabilityOf } from "../../services/catalog.js";
import type { KeyStore, Principal } from "../auth/key-store.js";
import type { Policy } from "./policy.js";

/** The authenticated principal of the call (undefined on open services). */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "principal" });

/** Services anyone may call without a key. */
export const openServices = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** The scope a service needs: its capability name, or `admin` for AdminService. */
export function scopeFor(typeName: string): string {
  if (typeName === "flowforge.admin.v1.AdminService") return "admin";
  return capabilityOf(typeName) ?? typeName;
}

/** The secret presented as `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(header: Headers): string | undefined {
  const auth = header.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  return header.get("x-api-key")?.trim() || undefined;
}

/**
 * The caller of `service` from its headers: undefined for open services; refuses a missing,
 * invalid or revoked key (`unauthenticated`) or one without the service's scope
 * (`permission_denied`). Needs nothing but headers, so it runs before any body is read.
 */
export async function authorize(keys: KeyStore, header: Headers, service: string): Promise<Principal | undefined> {
  if (openServices.has(service)) return undefined;
  const secret = presentedKey(header);
  if (!secret) {
    throw new ConnectError(
      "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>",
      Code.Unauthenticated,
    );
  }
  const principal = await keys.authenticate(secret);
  if (!principal) throw new ConnectError("invalid or revoked API key", Code.Unauthenticated);
  const scope = scopeFor(service);
  const allowed =
    scope === "admin"
      ? principal.scopes.includes("admin")
      : principal.scopes.includes("*") || principal.scopes.includes(scope);
  if (!allowed) throw new ConnectError(`this API key lacks the "${scope}" scope`, Code.PermissionDenied);
  return principal;
}

/** Authorizes every call (see authorize) and sets its principal and tenant for the backend. */
export function authPolicy(keys: KeyStore): Policy {
  return (next) => async (call) => {
    const principal = await authorize(keys, call.header, call.service.typeName);
    if (principal) {
      call.values.set(principalKey, principal);
      call.values.set(tenantKey, principal.tenantId);
    }
    return next(call);
  };
}
