/** HashPassword and VerifyPassword with argon2id. */
import argon2 from "argon2";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  HashPasswordRequest,
  HashPasswordResponseSchema,
  KdfParams,
  VerifyPasswordRequest,
  VerifyPasswordResponseSchema,
} from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "../../lib/runtime/errors.js";
import { kdfLimits, kdfParams } from "./cipher.js";

const maxPasswordBytes = 4096;

function checkPassword(password: string) {
  check(password.length > 0, "password", "is required");
  check(Buffer.byteLength(password) <= maxPasswordBytes, "password", `must be at most ${maxPasswordBytes} bytes`);
}

/** Hashes a password into an argon2id PHC string. */
export async function hashPassword(req: HashPasswordRequest): Promise<MessageInitShape<typeof HashPasswordResponseSchema>> {
  checkPassword(req.password);
  const params = kdfParams(req.params, "params");
  return { hash: await argon2.hash(req.password, { type: argon2.argon2id, ...params }) };
}

const phc = /^\$argon2(id|i|d)\$v=\d+\$([a-z]=\d{1,10}(?:,[a-z]=\d{1,10}){2})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** Checks a password against an argon2 PHC hash whose costs are within the service's limits. */
export async function verifyPassword(req: VerifyPasswordRequest): Promise<MessageInitShape<typeof VerifyPasswordResponseSchema>> {
  checkPassword(req.password);
  check(req.hash !== "", "hash", "is required");
  const m = phc.exec(req.hash.trim());
  if (!m) throw invalidArgument("hash", "not an argon2 PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)");
  const costs = Object.fromEntries(m[2].split(",").map((kv) => kv.split("=")));
  if (!costs.m || !costs.t || !costs.p) throw invalidArgument("hash", "must state m, t and p");
  kdfParams({ memoryKib: Number(costs.m), iterations: Number(costs.t), parallelism: Number(costs.p) } as KdfParams, "hash");
  let valid: boolean;
  try {
    valid = await argon2.verify(req.hash.trim(), req.password);
  } catch (cause) {
    throw invalidArgument("hash", "not a valid argon2 hash", cause);
  }
  const needsRehash =
    m[1] !== "id" ||
    argon2.needsRehash(req.hash.trim(), {
      memoryCost: kdfLimits.memoryKib.default,
      timeCost: kdfLimits.iterations.default,
      parallelism: kdfLimits.parallelism.default,
    });
  return { valid, needsRehash };
}
