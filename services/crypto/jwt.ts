/** SignJwt and VerifyJwt on jose. */
import { createLocalJWKSet, jwtVerify, SignJWT, errors as joseErrors, type JWTVerifyGetKey, type KeyObject as JoseKey } from "jose";
import type { KeyObject } from "node:crypto";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import {
  JwtAlgorithm,
  type SignJwtRequest,
  type SignJwtResponseSchema,
  type VerifyJwtRequest,
  type VerifyJwtResponseSchema,
} from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "../../lib/runtime/errors.js";
import { looksLikeKey, parseKey } from "./keys.js";

const hmacAlgorithms = ["HS256", "HS384", "HS512"];

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

function joseFailure(field: string, err: unknown): never {
  if (err instanceof joseErrors.JOSEError) throw invalidArgument(field, err.message, err);
  throw err;
}

/** Issues a compact JWS over the claims. */
export async function signJwt(req: SignJwtRequest): Promise<MessageInitShape<typeof SignJwtResponseSchema>> {
  check(req.key !== "", "key", "is required");
  const requested = req.algorithm === JwtAlgorithm.UNSPECIFIED ? undefined : algName(req.algorithm, "algorithm");
  let key: KeyObject | Uint8Array;
  let alg: string;
  if ((requested && hmacAlgorithms.includes(requested)) || (!requested && !looksLikeKey(req.key))) {
    key = new TextEncoder().encode(req.key);
    alg = requested ?? "HS256";
  } else {
    key = parseKey(req.key, "private", "key");
    const allowed = algorithmsForKey(key);
    alg = requested ?? allowed[0] ?? "";
    check(allowed.includes(alg), "algorithm", `${alg || "this key type"} cannot be used with a ${key.asymmetricKeyType} key`);
  }
  check(req.expiresInSeconds <= 10 * 365 * 24 * 3600, "expires_in_seconds", "must be at most ten years");
  const jwt = new SignJWT(req.claims ?? {}).setProtectedHeader({ alg, typ: "JWT", ...(req.keyId ? { kid: req.keyId } : {}) });
  const now = Math.floor(Date.now() / 1000);
  jwt.setIssuedAt(now);
  if (req.issuer) jwt.setIssuer(req.issuer);
  if (req.subject) jwt.setSubject(req.subject);
  if (req.audience.length) jwt.setAudience(req.audience.length === 1 ? req.audience[0] : req.audience);
  if (req.expiresInSeconds) jwt.setExpirationTime(now + req.expiresInSeconds);
  try {
    return { token: await jwt.sign(key as JoseKey) };
  } catch (err) {
    joseFailure("key", err);
  }
}

/** Verifies a JWT's signature and claims. */
export async function verifyJwt(req: VerifyJwtRequest): Promise<MessageInitShape<typeof VerifyJwtResponseSchema>> {
  check(req.token !== "", "token", "is required");
  check(req.key !== "", "key", "is required");
  check(req.clockToleranceSeconds <= 3600, "clock_tolerance_seconds", "must be at most 3600");
  let algorithms = req.algorithms.map((a, i) => algName(a, `algorithms[${i}]`));
  let key: KeyObject | Uint8Array | JWTVerifyGetKey;
  const trimmed = req.key.trim();
  if (trimmed.startsWith("{") && /"keys"\s*:/.test(trimmed)) {
    try {
      key = createLocalJWKSet(JSON.parse(trimmed));
    } catch (cause) {
      throw invalidArgument("key", "not a valid JWK Set", cause);
    }
  } else if (algorithms.some((a) => hmacAlgorithms.includes(a)) || !looksLikeKey(req.key)) {
    key = new TextEncoder().encode(req.key);
    if (algorithms.length === 0) algorithms = hmacAlgorithms;
  } else {
    key = parseKey(req.key, "public", "key");
    if (algorithms.length === 0) algorithms = algorithmsForKey(key);
  }
  try {
    const options = {
      algorithms: algorithms.length ? algorithms : undefined,
      issuer: req.issuer || undefined,
      audience: req.audience || undefined,
      clockTolerance: req.clockToleranceSeconds,
    };
    const { payload, protectedHeader } =
      typeof key === "function" ? await jwtVerify(req.token, key, options) : await jwtVerify(req.token, key as JoseKey, options);
    return { payload: payload as JsonObject, protectedHeader: protectedHeader as unknown as JsonObject };
  } catch (err) {
    joseFailure("token", err);
  }
}
