/**
 * SignJwt and VerifyJwt on jose. The key's type decides the algorithm family: a PEM or JWK key (or a
 * JWK Set) only ever serves its own asymmetric algorithms, and HMAC secrets come only from the
 * `secret_text` / `secret_data` fields, so a public key can never be turned into an HMAC secret
 * (the classic algorithm-confusion forgery).
 */
import {
  createLocalJWKSet,
  jwtVerify,
  SignJWT,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from "jose";
import type { KeyObject } from "node:crypto";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import {
  JwtAlgorithm,
  type SignJwtRequest,
  type SignJwtResponseSchema,
  type VerifyJwtRequest,
  type VerifyJwtResponseSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { parseKey } from "./keys.js";

const hmacAlgorithms = ["HS256", "HS384", "HS512"];
const asymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
/** Longest HMAC secret accepted, in bytes. */
const maxSecretBytes = 64 * 1024;
const secretHint = "HMAC secrets go in secret_text or secret_data";

function algName(alg: JwtAlgorithm, field: string): string {
  const name = JwtAlgorithm[alg];
  if (alg === JwtAlgorithm.UNSPECIFIED || name === undefined) throw invalidArgument(field, `unknown algorithm ${alg}`);
  return name === "EDDSA" ? "EdDSA" : name;
}

/** The algorithms a key can be used with, the first being its natural default. */
function algorithmsForKey(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    case "rsa-pss":
      return ["PS256", "PS384", "PS512"];
    case "ec":
      return key.asymmetricKeyDetails?.namedCurve === "secp384r1" ? ["ES384"] : ["ES256"];
    case "ed25519":
      return ["EdDSA"];
    default:
      return [];
  }
}

/** The HMAC secret of a request, or undefined when none is set. */
function secretOf(secret: SignJwtRequest["secret"] | VerifyJwtRequest["secret"], key: string): Uint8Array | undefined {
  if (secret.case === undefined) return undefined;
  const field = secret.case === "secretText" ? "secret_text" : "secret_data";
  const bytes = secret.case === "secretText" ? new TextEncoder().encode(secret.value) : secret.value;
  check(bytes.length > 0, field, "must not be empty");
  check(bytes.length <= maxSecretBytes, field, `must be at most ${maxSecretBytes} bytes`);
  check(key === "", "key", `must be empty when ${field} is set: a token is checked with a key or a secret, not both`);
  return bytes;
}

/** Refuses symmetric JWKs in the key field: HMAC secrets have their own field. */
function refuseSymmetricJwk(jwk: unknown, field: string): void {
  if (jwk && typeof jwk === "object" && (jwk as { kty?: unknown }).kty === "oct") {
    throw invalidArgument(field, `holds a symmetric (oct) JWK; ${secretHint}`);
  }
}

function parseJwk(text: string, kind: "private" | "public"): KeyObject {
  check(text.trim() !== "", "key", `is required (${secretHint} for HS256/384/512)`);
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    try {
      refuseSymmetricJwk(JSON.parse(trimmed), "key");
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
  } else if (!trimmed.startsWith("-----BEGIN ")) {
    throw invalidArgument("key", `must be a PEM or JWK ${kind} key; ${secretHint}`);
  }
  return parseKey(text, kind, "key");
}

/** The algorithms to accept: the requested ones within the family, or the whole family. */
function narrow(requested: string[], family: string[], what: string): string[] {
  if (requested.length === 0) return family;
  const accepted = requested.filter((a) => family.includes(a));
  if (accepted.length === 0) {
    const hint = family === hmacAlgorithms ? "" : `; ${secretHint}`;
    throw invalidArgument("algorithms", `${requested.join(", ")} cannot be used with ${what}${hint}`);
  }
  return accepted;
}

function joseFailure(field: string, err: unknown): never {
  if (err instanceof joseErrors.JOSEError) throw invalidArgument(field, err.message, err);
  throw err;
}

/** Issues a compact JWS over the claims. */
export async function signJwt(req: SignJwtRequest): Promise<MessageInitShape<typeof SignJwtResponseSchema>> {
  const requested = req.algorithm === JwtAlgorithm.UNSPECIFIED ? undefined : algName(req.algorithm, "algorithm");
  const secret = secretOf(req.secret, req.key);
  let key: KeyObject | Uint8Array;
  let alg: string;
  if (secret) {
    key = secret;
    alg = requested ?? "HS256";
    check(hmacAlgorithms.includes(alg), "algorithm", `${alg} needs a private key in key, not a secret`);
  } else {
    const privateKey = parseJwk(req.key, "private");
    key = privateKey;
    const allowed = algorithmsForKey(privateKey);
    alg = requested ?? allowed[0] ?? "";
    const hint = hmacAlgorithms.includes(alg) ? `; ${secretHint}` : "";
    check(
      allowed.includes(alg),
      "algorithm",
      `${alg || "this key type"} cannot be used with a ${privateKey.asymmetricKeyType} key${hint}`,
    );
  }
  check(req.expiresInSeconds <= 10 * 365 * 24 * 3600, "expires_in_seconds", "must be at most ten years");
  const jwt = new SignJWT(req.claims ?? {}).setProtectedHeader({
    alg,
    typ: "JWT",
    ...(req.keyId ? { kid: req.keyId } : {}),
  });
  const now = Math.floor(Date.now() / 1000);
  jwt.setIssuedAt(now);
  if (req.issuer) jwt.setIssuer(req.issuer);
  if (req.subject) jwt.setSubject(req.subject);
  if (req.audience.length) jwt.setAudience(req.audience.length === 1 ? req.audience[0] : req.audience);
  if (req.expiresInSeconds) jwt.setExpirationTime(now + req.expiresInSeconds);
  try {
    return { token: await jwt.sign(key) };
  } catch (err) {
    joseFailure(secret ? "secret" : "key", err);
  }
}

/** A verification key with the algorithms it may check. */
type Verifier = { key: KeyObject | Uint8Array | JWTVerifyGetKey; algorithms: string[] };

function verifierFor(req: VerifyJwtRequest, requested: string[]): Verifier {
  const secret = secretOf(req.secret, req.key);
  if (secret) return { key: secret, algorithms: narrow(requested, hmacAlgorithms, "a secret") };
  const trimmed = req.key.trim();
  if (trimmed.startsWith("{") && /"keys"\s*:/.test(trimmed)) {
    let set: JSONWebKeySet;
    try {
      set = JSON.parse(trimmed);
    } catch (cause) {
      throw invalidArgument("key", "not a valid JWK Set", cause);
    }
    check(Array.isArray(set.keys), "key", "not a valid JWK Set: keys must be an array");
    for (const [i, jwk] of set.keys.entries()) refuseSymmetricJwk(jwk, `key.keys[${i}]`);
    try {
      return { key: createLocalJWKSet(set), algorithms: narrow(requested, asymmetricAlgorithms, "a JWK Set") };
    } catch (cause) {
      if (cause instanceof joseErrors.JOSEError) throw invalidArgument("key", "not a valid JWK Set", cause);
      throw cause;
    }
  }
  const key = parseJwk(req.key, "public");
  return { key, algorithms: narrow(requested, algorithmsForKey(key), `a ${key.asymmetricKeyType} key`) };
}

/** Verifies a JWT's signature and claims. */
export async function verifyJwt(req: VerifyJwtRequest): Promise<MessageInitShape<typeof VerifyJwtResponseSchema>> {
  check(req.token !== "", "token", "is required");
  check(req.clockToleranceSeconds <= 3600, "clock_tolerance_seconds", "must be at most 3600");
  const { key, algorithms } = verifierFor(
    req,
    req.algorithms.map((a, i) => algName(a, `algorithms[${i}]`)),
  );
  try {
    const options = {
      algorithms,
      issuer: req.issuer || undefined,
      audience: req.audience || undefined,
      clockTolerance: req.clockToleranceSeconds,
    };
    const { payload, protectedHeader } =
      typeof key === "function" ? await jwtVerify(req.token, key, options) : await jwtVerify(req.token, key, options);
    return { payload: payload as JsonObject, protectedHeader: protectedHeader as unknown as JsonObject };
  } catch (err) {
    joseFailure("token", err);
  }
}
