/**
 * Encrypt and Decrypt: AES-256-GCM or ChaCha20-Poly1305 under a raw key or an argon2id-derived
 * key, in a self-describing envelope:
 * `$ffenc$v=1$c=<cipher>$k=<raw | argon2id,m=<kib>,t=<passes>,p=<lanes>,s=<salt>>$<nonce>$<ciphertext+tag>`.
 */
import { createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes } from "node:crypto";
import argon2 from "argon2";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Cipher,
  type DecryptRequest,
  type DecryptResponseSchema,
  type EncryptRequest,
  type EncryptResponseSchema,
  type KdfParams,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { HandlerContext } from "@connectrpc/connect";
import { type CryptoLimits, kdfLimits } from "./limits.js";
import { bounded, inputBytes } from "./encoding.js";

/** Source of random bytes; tests pass a fixed one to check published vectors. */
export type RandomBytes = (size: number) => Buffer;

const cipherNames: Partial<Record<Cipher, string>> = {
  [Cipher.AES_256_GCM]: "aes-256-gcm",
  [Cipher.CHACHA20_POLY1305]: "chacha20-poly1305",
};
const ciphersByName = new Map(Object.entries(cipherNames).map(([k, v]) => [v, Number(k) as Cipher]));

const keyLength = 32;
const nonceLength = 12;
const tagLength = 16;
const saltLength = 16;

/** Resolved argon2id parameters. */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** Validates KdfParams (zero means default) against kdfLimits; `field` prefixes errors. */
export function kdfParams(params: KdfParams | undefined, field: string): Argon2Params {
  const l = kdfLimits;
  return {
    memoryCost: bounded(
      params?.memoryKib ?? 0,
      `${field}.memory_kib`,
      l.memoryKib.min,
      l.memoryKib.max,
      l.memoryKib.default,
    ),
    timeCost: bounded(
      params?.iterations ?? 0,
      `${field}.iterations`,
      l.iterations.min,
      l.iterations.max,
      l.iterations.default,
    ),
    parallelism: bounded(
      params?.parallelism ?? 0,
      `${field}.parallelism`,
      l.parallelism.min,
      l.parallelism.max,
      l.parallelism.default,
    ),
  };
}

async function deriveKey(passphrase: string, salt: Buffer, params: Argon2Params): Promise<Buffer> {
  return argon2.hash(passphrase, { type: argon2.argon2id, raw: true, salt, hashLength: keyLength, ...params });
}

function checkPassphrase(passphrase: string) {
  check(passphrase.length > 0, "passphrase", "must not be empty");
  check(passphrase.length <= 4096, "passphrase", "must be at most 4096 characters");
}

function rawKey(key: Uint8Array): Buffer {
  check(key.length === keyLength, "key", `must be ${keyLength} bytes, got ${key.length}`);
  return Buffer.from(key);
}

const b64 = (b: Buffer) => b.toString("base64url");

/** Creates the Encrypt and Decrypt handlers. */
export function createCipherHandlers(limits: CryptoLimits, randomBytes: RandomBytes = nodeRandomBytes) {
  const derive = (ctx: HandlerContext, field: string, passphrase: string, salt: Buffer, params: Argon2Params) =>
    limits.argon2(ctx, field, params.memoryCost, () => deriveKey(passphrase, salt, params));

  async function encrypt(
    req: EncryptRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof EncryptResponseSchema>> {
    const cipherId = req.cipher || Cipher.AES_256_GCM;
    const name = cipherNames[cipherId];
    if (!name) throw invalidArgument("cipher", `unknown cipher ${req.cipher}`);
    const plaintext = inputBytes(req.plaintext, "plaintext");
    let key: Buffer;
    let kdf: string;
    switch (req.keySource.case) {
      case "key":
        key = rawKey(req.keySource.value);
        kdf = "raw";
        break;
      case "passphrase": {
        checkPassphrase(req.keySource.value);
        const params = kdfParams(req.kdf, "kdf");
        const salt = randomBytes(saltLength);
        key = await derive(ctx, "kdf.memory_kib", req.keySource.value, salt, params);
        kdf = `argon2id,m=${params.memoryCost},t=${params.timeCost},p=${params.parallelism},s=${b64(salt)}`;
        break;
      }
      default:
        throw invalidArgument("key_source", "one of key or passphrase is required");
    }
    const nonce = randomBytes(nonceLength);
    const cipher = createCipheriv(name as "aes-256-gcm", key, nonce, { authTagLength: tagLength });
    if (req.associatedData.length > 0) cipher.setAAD(Buffer.from(req.associatedData));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { envelope: `$ffenc$v=1$c=${name}$k=${kdf}$${b64(nonce)}$${b64(sealed)}` };
  }

  async function decrypt(
    req: DecryptRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof DecryptResponseSchema>> {
    const envelope = parseEnvelope(req.envelope);
    let key: Buffer;
    if (envelope.kdf === undefined) {
      if (req.keySource.case !== "key")
        throw invalidArgument("key", "the envelope was sealed with a raw key; send key");
      key = rawKey(req.keySource.value);
    } else {
      if (req.keySource.case !== "passphrase") {
        throw invalidArgument("passphrase", "the envelope was sealed with a passphrase; send passphrase");
      }
      checkPassphrase(req.keySource.value);
      key = await derive(ctx, "envelope", req.keySource.value, envelope.kdf.salt, envelope.kdf.params);
    }
    const decipher = createDecipheriv(envelope.name as "aes-256-gcm", key, envelope.nonce, {
      authTagLength: tagLength,
    });
    decipher.setAuthTag(envelope.sealed.subarray(envelope.sealed.length - tagLength));
    if (req.associatedData.length > 0) decipher.setAAD(Buffer.from(req.associatedData));
    let data: Buffer;
    try {
      data = Buffer.concat([
        decipher.update(envelope.sealed.subarray(0, envelope.sealed.length - tagLength)),
        decipher.final(),
      ]);
    } catch (cause) {
      throw invalidArgument(
        "envelope",
        "authentication failed: wrong key or associated_data, or the envelope was altered",
        cause,
      );
    }
    const text = new TextDecoder("utf-8", { fatal: true });
    let asText = "";
    try {
      asText = text.decode(data);
    } catch {
      // Not UTF-8: only `data` is set.
    }
    return { data, text: asText, cipher: envelope.cipher };
  }

  return { encrypt, decrypt };
}

interface Envelope {
  name: string;
  cipher: Cipher;
  kdf?: { params: Argon2Params; salt: Buffer };
  nonce: Buffer;
  sealed: Buffer;
}

const b64url = /^[A-Za-z0-9_-]*$/;

function parseEnvelope(text: string): Envelope {
  const bad = (why: string) => invalidArgument("envelope", why);
  if (text === "") throw bad("is required");
  const parts = text.trim().split("$");
  if (parts.length !== 7 || parts[0] !== "" || parts[1] !== "ffenc") throw bad("not a FlowForge envelope ($ffenc$...)");
  const [, , version, cipherPart, kdfPart, noncePart, sealedPart] = parts;
  if (version !== "v=1") throw bad(`unsupported version "${version}"`);
  const name = cipherPart.startsWith("c=") ? cipherPart.slice(2) : "";
  const cipher = ciphersByName.get(name);
  if (cipher === undefined) throw bad(`unknown cipher "${name}"`);
  if (!b64url.test(noncePart) || !b64url.test(sealedPart)) throw bad("nonce and ciphertext must be base64url");
  const nonce = Buffer.from(noncePart, "base64url");
  const sealed = Buffer.from(sealedPart, "base64url");
  if (nonce.length !== nonceLength) throw bad(`nonce must be ${nonceLength} bytes`);
  if (sealed.length < tagLength) throw bad("ciphertext is shorter than its authentication tag");
  if (kdfPart === "k=raw") return { name, cipher, nonce, sealed };
  const m = /^k=argon2id,m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2}),s=([A-Za-z0-9_-]{16,64})$/.exec(kdfPart);
  if (!m) throw bad("unknown key derivation");
  const params = kdfParams(
    { memoryKib: Number(m[1]), iterations: Number(m[2]), parallelism: Number(m[3]) } as KdfParams,
    "envelope.kdf",
  );
  return { name, cipher, kdf: { params, salt: Buffer.from(m[4], "base64url") }, nonce, sealed };
}
