/** HashPassword and VerifyPassword with argon2id. */
import argon2 from "argon2";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  HashPasswordRequest,
  HashPasswordResponseSchema,
  KdfParams,
  VerifyPasswordRequest,
  VerifyPasswordResponseSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { ConnectError, type HandlerContext } from "@connectrpc/connect";
import { check, invalidArgument } from "#runtime/errors.js";
import { kdfParams } from "./cipher.js";
import { type CryptoLimits, kdfLimits } from "./limits.js";

const maxPasswordBytes = 4096;

function checkPassword(password: string) {
  check(password.length > 0, "password", "is required");
  check(Buffer.byteLength(password) <= maxPasswordBytes, "password", `must be at most ${maxPasswordBytes} bytes`);
}

/** Creates HashPassword and VerifyPassword, their hashes run within `limits`. */
export function createPasswordHandlers(limits: CryptoLimits) {
  /** Hashes a password into an argon2id PHC string. */
  async function hashPassword(
    req: HashPasswordRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof HashPasswordResponseSchema>> {
    checkPassword(req.password);
    const params = kdfParams(req.params, "params");
    const hash = await limits.argon2(ctx, "params.memory_kib", params.memoryCost, () =>
      argon2.hash(req.password, { type: argon2.argon2id, ...params }),
    );
    return { hash };
  }

  /** Checks a password against an argon2 PHC hash whose costs are within the service's limits. */
  async function verifyPassword(
    req: VerifyPasswordRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof VerifyPasswordResponseSchema>> {
    const { params, variant } = checkVerify(req);
    let valid: boolean;
    try {
      valid = await limits.argon2(ctx, "hash", params.memoryCost, () => argon2.verify(req.hash.trim(), req.password));
    } catch (cause) {
      if (cause instanceof ConnectError) throw cause;
      throw invalidArgument("hash", "not a valid argon2 hash", cause);
    }
    const needsRehash =
      variant !== "id" ||
      argon2.needsRehash(req.hash.trim(), {
        memoryCost: kdfLimits.memoryKib.default,
        timeCost: kdfLimits.iterations.default,
        parallelism: kdfLimits.parallelism.default,
      });
    return { valid, needsRehash };
  }

  return { hashPassword, verifyPassword };
}

const phc = /^\$argon2(id|i|d)\$v=\d+\$([a-z]=\d{1,10}(?:,[a-z]=\d{1,10}){2})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** Validates a VerifyPassword request: the hash's costs must be within the service's limits. */
function checkVerify(req: VerifyPasswordRequest) {
  checkPassword(req.password);
  check(req.hash !== "", "hash", "is required");
  const m = phc.exec(req.hash.trim());
  if (!m) throw invalidArgument("hash", "not an argon2 PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)");
  const costs = Object.fromEntries(m[2].split(",").map((kv) => kv.split("=")));
  if (!costs.m || !costs.t || !costs.p) throw invalidArgument("hash", "must state m, t and p");
  const params = kdfParams(
    { memoryKib: Number(costs.m), iterations: Number(costs.t), parallelism: Number(costs.p) } as KdfParams,
    "hash",
  );
  return { params, variant: m[1] };
}
