/** GenerateKeyPair, Sign and Verify over node:crypto key objects (PEM or JWK). */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generate,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";
import { calculateJwkThumbprint, exportJWK } from "jose";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import {
  HashAlgorithm,
  KeyFormat,
  KeyType,
  RsaPadding,
  type GenerateKeyPairRequest,
  type GenerateKeyPairResponseSchema,
  type SignRequest,
  type SignResponseSchema,
  type VerifyRequest,
  type VerifyResponseSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { decodeText, encodeBytes, hashName, inputBytes } from "./encoding.js";

const generateAsync = promisify(generate);

/** Longest key text accepted (PEM or JWK). */
const maxKeyChars = 64 * 1024;

type KeySpec = { type: "rsa"; modulusLength: number } | { type: "ec"; namedCurve: string } | { type: "ed25519" };

const keySpecs: Partial<Record<KeyType, KeySpec>> = {
  [KeyType.RSA_2048]: { type: "rsa", modulusLength: 2048 },
  [KeyType.RSA_3072]: { type: "rsa", modulusLength: 3072 },
  [KeyType.RSA_4096]: { type: "rsa", modulusLength: 4096 },
  [KeyType.EC_P256]: { type: "ec", namedCurve: "P-256" },
  [KeyType.EC_P384]: { type: "ec", namedCurve: "P-384" },
  [KeyType.ED25519]: { type: "ed25519" },
};

async function exportKey(key: KeyObject, format: KeyFormat): Promise<string> {
  if (format === KeyFormat.JWK) return JSON.stringify(await exportJWK(key));
  return key.type === "private"
    ? (key.export({ type: "pkcs8", format: "pem" }) as string)
    : (key.export({ type: "spki", format: "pem" }) as string);
}

/** Generates a key pair. */
export async function generateKeyPair(
  req: GenerateKeyPairRequest,
): Promise<MessageInitShape<typeof GenerateKeyPairResponseSchema>> {
  const spec = keySpecs[req.type];
  if (!spec)
    throw invalidArgument("type", req.type === KeyType.UNSPECIFIED ? "is required" : `unknown key type ${req.type}`);
  const format = req.format || KeyFormat.PEM;
  check(format === KeyFormat.PEM || format === KeyFormat.JWK, "format", `unknown key format ${req.format}`);
  const { privateKey, publicKey } =
    spec.type === "rsa"
      ? await generateAsync("rsa", { modulusLength: spec.modulusLength })
      : spec.type === "ec"
        ? await generateAsync("ec", { namedCurve: spec.namedCurve })
        : await generateAsync("ed25519", {});
  return {
    privateKey: await exportKey(privateKey, format),
    publicKey: await exportKey(publicKey, format),
    keyId: await calculateJwkThumbprint(await exportJWK(publicKey), "sha256"),
  };
}

/** Parses a PEM or JWK key; `kind` says which half is wanted (a private key yields its public half). */
export function parseKey(text: string, kind: "private" | "public", field: string): KeyObject {
  check(text.trim() !== "", field, "is required");
  check(text.length <= maxKeyChars, field, `must be at most ${maxKeyChars} characters`);
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("{")) {
      const jwk = JSON.parse(trimmed);
      return kind === "private"
        ? createPrivateKey({ key: jwk, format: "jwk" })
        : createPublicKey({ key: jwk, format: "jwk" });
    }
    return kind === "private" ? createPrivateKey(trimmed) : createPublicKey(trimmed);
  } catch (cause) {
    throw invalidArgument(field, `not a valid PEM or JWK ${kind} key`, cause);
  }
}

interface SignatureScheme {
  algorithm: string | null;
  options: { padding?: number; saltLength?: number; dsaEncoding?: "der" };
}

function schemeFor(key: KeyObject, hash: HashAlgorithm, padding: RsaPadding, keyField: string): SignatureScheme {
  switch (key.asymmetricKeyType) {
    case "ed25519":
    case "ed448":
      check(hash === HashAlgorithm.UNSPECIFIED, "hash", `must be unset for ${key.asymmetricKeyType} keys`);
      return { algorithm: null, options: {} };
    case "rsa":
    case "rsa-pss":
    case "ec": {
      const algorithm = hashName(hash || HashAlgorithm.SHA256, "hash");
      check(hash !== HashAlgorithm.MD5, "hash", "MD5 is not allowed for signatures");
      if (key.asymmetricKeyType === "ec") return { algorithm, options: { dsaEncoding: "der" } };
      check(
        padding === RsaPadding.UNSPECIFIED || padding === RsaPadding.PKCS1_V15 || padding === RsaPadding.PSS,
        "padding",
        `unknown RSA padding ${padding}`,
      );
      const pss = padding === RsaPadding.PSS || key.asymmetricKeyType === "rsa-pss";
      return pss
        ? {
            algorithm,
            options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          }
        : { algorithm, options: { padding: constants.RSA_PKCS1_PADDING } };
    }
    default:
      throw invalidArgument(keyField, `${key.asymmetricKeyType} keys cannot sign`);
  }
}

/** Signs the input with a private key. */
export function sign(req: SignRequest): MessageInitShape<typeof SignResponseSchema> {
  const key = parseKey(req.privateKey, "private", "private_key");
  const data = inputBytes(req.input);
  const { algorithm, options } = schemeFor(key, req.hash, req.padding, "private_key");
  const signature = nodeSign(algorithm, data, { key, ...options });
  return { signature: encodeBytes(signature, req.encoding, Encoding.BASE64) };
}

/** Verifies a signature with a public key. */
export function verify(req: VerifyRequest): MessageInitShape<typeof VerifyResponseSchema> {
  const key = parseKey(req.publicKey, "public", "public_key");
  const data = inputBytes(req.input);
  check(req.signature.trim() !== "", "signature", "is required");
  const signature = decodeText(req.signature, req.encoding, Encoding.BASE64, "signature");
  const { algorithm, options } = schemeFor(key, req.hash, req.padding, "public_key");
  try {
    return { valid: nodeVerify(algorithm, data, { key, ...options }, signature) };
  } catch {
    // A malformed signature (a bad DER sequence, say) is simply not valid.
    return { valid: false };
  }
}
