/** CryptoService: the handlers wired into one ServiceImpl. */
import type { ServiceImpl } from "@connectrpc/connect";
import type { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { createCipherHandlers, type RandomBytes } from "./cipher.js";
import { hash, hmac } from "./hash.js";
import { generateKeyPair, sign, verify } from "./keys.js";
import { signJwt, verifyJwt } from "./jwt.js";
import { createPasswordHandlers } from "./password.js";
import { createCryptoLimits, type CryptoLimitOptions } from "./limits.js";
import { random } from "./random.js";

/** Options for createCryptoService. */
export interface CryptoServiceOptions {
  /** Random source for nonces and salts; default node:crypto. Tests fix it to check vectors. */
  randomBytes?: RandomBytes;
  /** Bounds on argon2 and key generation; defaults sized from the machine. */
  limits?: CryptoLimitOptions;
}

/** Creates the CryptoService implementation. */
export function createCryptoService(options: CryptoServiceOptions = {}): ServiceImpl<typeof CryptoService> {
  const limits = createCryptoLimits(options.limits);
  const { encrypt, decrypt } = createCipherHandlers(limits, options.randomBytes);
  const { hashPassword, verifyPassword } = createPasswordHandlers(limits);
  return {
    hash,
    hmac,
    encrypt,
    decrypt,
    generateKeyPair: (req, ctx) => limits.keygen(ctx, () => generateKeyPair(req)),
    sign,
    verify,
    signJwt,
    verifyJwt,
    hashPassword,
    verifyPassword,
    random,
  };
}
