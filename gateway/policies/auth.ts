/** Authentication (API keys, JWTs, optional HTTP Basic) and scope checks for every capability call. */
import { Code, ConnectError, type ContextValues, createContextKey } from "@connectrpc/connect";
import { tenantKey } from "#runtime/context.js";
import { capabilityScopes } from "../../services/catalog.js";
import type { JwtVerifier } from "../auth/jwt.js";
import type { KeyStore, Principal } from "../auth/key-store.js";
import type { Policy, RequestHeaders } from "./policy.js";
import { blobsScope } from "./scopes.js";

/** The authenticated principal of the call (undefined on open services). */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "principal" });

/** Services anyone may call without a key. */
export const openServices = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** Services every authenticated caller may call (about itself). */
const selfServices = new Set(["flowforge.account.v1.AccountService"]);

/**
 * The scopes that let a key call a service (see scopes.ts), the one users see first: its
 * capability's scope and name, `admin` for AdminService, `blobs` for BlobService.
 */
export function scopesFor(typeName: string): string[] {
  if (typeName === "flowforge.admin.v1.AdminService") return ["admin"];
  if (typeName === "flowforge.blob.v1.BlobService") return [blobsScope];
  return capabilityScopes(typeName) ?? [typeName];
}

/** How callers prove who they are: API keys always; JWTs and HTTP Basic when configured. */
export interface Authenticators {
  keys: KeyStore;
  /** Verifies JWT bearer tokens (when a JWKS URL or keys are configured). */
  jwt?: JwtVerifier;
  /** Accept `Authorization: Basic` with the API key as the password (off by default). */
  basic?: boolean;
}

const missing = () =>
  new ConnectError("missing API key: send Authorization: Bearer <key> or X-API-Key: <key>", Code.Unauthenticated);

/** The principal a request's credentials prove; refuses missing or bad ones (`unauthenticated`). */
async function authenticate(auth: Authenticators, header: RequestHeaders): Promise<Principal> {
  const authorization = header.get("authorization");
  let secret: string | undefined;
  if (authorization) {
    const [scheme, value = "", ...rest] = authorization.trim().split(/\s+/);
    if (rest.length > 0 || !value) throw missing();
    if (/^bearer$/i.test(scheme)) {
      // A JWT has three dot-separated parts; API keys (`ffk_...`) and the operator key have none.
      if (auth.jwt && value.split(".").length === 3) return auth.jwt(value);
      secret = value;
    } else if (/^basic$/i.test(scheme)) {
      if (!auth.basic)
        throw new ConnectError(
          "HTTP Basic authentication is off; send Authorization: Bearer <key>",
          Code.Unauthenticated,
        );
      const decoded = Buffer.from(value, "base64").toString();
      secret = decoded.slice(decoded.indexOf(":") + 1);
    } else {
      throw new ConnectError(`unsupported Authorization scheme "${scheme}"; send Bearer <key>`, Code.Unauthenticated);
    }
  } else {
    secret = header.get("x-api-key")?.trim() || undefined;
  }
  if (!secret) throw missing();
  const principal = await auth.keys.authenticate(secret);
  if (!principal) throw new ConnectError("invalid or revoked API key", Code.Unauthenticated);
  return principal;
}

/**
 * The caller of `service` from its headers: undefined for open services; refuses missing,
 * invalid, expired or revoked credentials (`unauthenticated`) or a caller without the service's
 * scope (`permission_denied`). Needs nothing but headers, so it runs before any body is read.
 */
export async function authorize(
  auth: Authenticators,
  header: RequestHeaders,
  service: string,
): Promise<Principal | undefined> {
  if (openServices.has(service)) return undefined;
  const principal = await authenticate(auth, header);
  if (selfServices.has(service)) return principal;
  const scopes = scopesFor(service);
  const allowed =
    scopes[0] === "admin"
      ? principal.scopes.includes("admin")
      : principal.scopes.includes("*") || scopes.some((s) => principal.scopes.includes(s));
  if (!allowed) throw new ConnectError(`this API key lacks the "${scopes[0]}" scope`, Code.PermissionDenied);
  return principal;
}

/** Whether the call's caller was authorized already (a stream, from its headers before connect-node read its body). */
const admittedKey = createContextKey(false, { description: "admitted" });

/** What admit needs to know of a call. */
export interface Admission {
  header: RequestHeaders;
  /** The service's type name. */
  service: string;
  /** The call's values: its principal and tenant are set there. */
  values: ContextValues;
}

/**
 * Authorizes a call's caller (see authorize) and sets its principal and tenant in the call's
 * values for the backend, once: a call admitted before is not authenticated again.
 */
export async function admit(auth: Authenticators, call: Admission): Promise<void> {
  if (call.values.get(admittedKey)) return;
  const principal = await authorize(auth, call.header, call.service);
  if (principal) {
    call.values.set(principalKey, principal);
    call.values.set(tenantKey, principal.tenantId);
  }
  call.values.set(admittedKey, true);
}

/** Admits every call (see admit). */
export function authPolicy(auth: Authenticators): Policy {
  return (next) => async (call) => {
    await admit(auth, { header: call.header, service: call.service.typeName, values: call.values });
    return next(call);
  };
}
