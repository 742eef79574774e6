/**
 * JWT bearer tokens (jose): verified against a JWKS URL or static keys, with issuer, audience,
 * expiry and not-before checked and the claims mapped to tenant, tier, scopes and user (claim
 * names configurable). `alg: none` and keys of the wrong type never verify: only the asymmetric
 * algorithms the keys are for are accepted. A JWKS that does not answer is `unavailable` after
 * its timeout, never a hang.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { Code, ConnectError } from "@connectrpc/connect";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import type { Principal } from "./key-store.js";

/** Where the keys come from and how claims map to a principal. */
export interface JwtOptions {
  /** A JWKS URL (fetched, cached, refreshed on an unknown `kid`). */
  jwksUrl?: string;
  /** Static keys: a JWKS (`{"keys": [...]}`). */
  keys?: JSONWebKeySet;
  /** Required `iss`. */
  issuer?: string;
  /** Required `aud`. */
  audience?: string;
  /** Claim names. Defaults: `tenant`, `tier`, `scope`, `sub`. */
  claims?: { tenant?: string; tier?: string; scopes?: string; user?: string };
  /** How long a JWKS fetch may take. Default 2 s. */
  jwksTimeoutMs?: number;
}

/** Asymmetric algorithms only: a shared secret (HS*) or `none` never verifies. */
const algorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

const unauthenticated = (message: string, cause?: unknown) =>
  new ConnectError(message, Code.Unauthenticated, undefined, undefined, cause);

/** A claim as a string, if it is one. */
const text = (payload: JWTPayload, name: string) =>
  typeof payload[name] === "string" ? (payload[name] as string) : undefined;

/** The tier a claim names: `pro`, `TIER_PRO` or its number; free when absent. */
function tierOf(value: unknown): Tier {
  if (value === undefined) return Tier.FREE;
  if (typeof value === "number" && Tier[value] !== undefined) return value;
  if (typeof value === "string") {
    const name = value.toUpperCase().replace(/^TIER_/, "") as keyof typeof Tier;
    if (Tier[name] !== undefined && name !== "UNSPECIFIED") return Tier[name];
  }
  throw unauthenticated(`the token's tier claim ${JSON.stringify(value)} is not a tier (free, basic, pro, enterprise)`);
}

/** Verifies tokens; resolves to the principal or rejects with unauthenticated (or unavailable). */
export type JwtVerifier = (token: string) => Promise<Principal>;

/** Creates a verifier, or undefined when neither a JWKS URL nor keys are configured. */
export function createJwtVerifier(options: JwtOptions): JwtVerifier | undefined {
  let keys: JWTVerifyGetKey;
  if (options.jwksUrl)
    keys = createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: options.jwksTimeoutMs ?? 2000 });
  else if (options.keys) keys = createLocalJWKSet(options.keys);
  else return undefined;
  const claims = { tenant: "tenant", tier: "tier", scopes: "scope", user: "sub", ...options.claims };
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: 5,
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      if (err instanceof errors.JWKSTimeout)
        throw new ConnectError(
          "the token's signing keys (JWKS) did not arrive in time",
          Code.Unavailable,
          undefined,
          undefined,
          err,
        );
      if (err instanceof errors.JWTExpired) throw unauthenticated("the token has expired", err);
      if (err instanceof errors.JWTClaimValidationFailed)
        throw unauthenticated(`the token's ${err.claim} claim is not accepted: ${err.message}`, err);
      if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
        throw unauthenticated("the token's algorithm is not accepted (asymmetric signatures only)", err);
      if (err instanceof errors.JWKSNoMatchingKey) throw unauthenticated("no signing key matches the token", err);
      if (err instanceof errors.JWKSInvalid || (err instanceof errors.JOSEError && err.code === "ERR_JOSE_GENERIC"))
        throw new ConnectError(
          "the token's signing keys (JWKS) cannot be read",
          Code.Unavailable,
          undefined,
          undefined,
          err,
        );
      throw unauthenticated("the token is not valid", err);
    }
    const tenantId = text(payload, claims.tenant);
    if (!tenantId) throw unauthenticated(`the token has no "${claims.tenant}" claim naming the tenant`);
    const user = text(payload, claims.user);
    const raw = payload[claims.scopes];
    const scopes =
      typeof raw === "string" ? raw.split(" ").filter(Boolean) : Array.isArray(raw) ? raw.map(String) : ["*"];
    return {
      keyId: `jwt:${user ?? tenantId}`,
      tenantId,
      tier: tierOf(payload[claims.tier]),
      scopes,
      userId: user,
    };
  };
}
