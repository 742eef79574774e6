/** CryptoService: the handlers wired into one ServiceImpl. */
import type { ServiceImpl } from "@connectrpc/connect";
import { CryptoService } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { createCipherHandlers, type RandomBytes } from "./cipher.js";
import { hash, hmac } from "./hash.js";
import { generateKeyPair, sign, verify } from "./keys.js";
import { signJwt, verifyJwt } from "./jwt.js";
import { hashPassword, verifyPassword } from "./password.js";
import { random } from "./random.js";

/** Options for createCryptoService. */
export interface CryptoServiceOptions {
  /** Random source for nonces and salts; default node:crypto. Tests fix it to check vectors. */
  randomBytes?: RandomBytes;
}

/** Creates the CryptoService implementation. */
export function createCryptoService(options: CryptoServiceOptions = {}): ServiceImpl<typeof CryptoService> {
  const { encrypt, decrypt } = createCipherHandlers(options.randomBytes);
  return { hash, hmac, encrypt, decrypt, generateKeyPair, sign, verify, signJwt, verifyJwt, hashPassword, verifyPassword, random };
}
