/** Hash and Hmac. */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  HashRequest,
  HashResponseSchema,
  HmacRequest,
  HmacResponseSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { encodeBytes, hashName, inputBytes } from "./encoding.js";
import { check, invalidArgument } from "#runtime/errors.js";

/** Computes a digest of the input. */
export function hash(req: HashRequest): MessageInitShape<typeof HashResponseSchema> {
  const name = hashName(req.algorithm);
  const data = inputBytes(req.input);
  const encoding = req.encoding || Encoding.HEX;
  return {
    digest: encodeBytes(createHash(name).update(data).digest(), encoding, Encoding.HEX),
    algorithm: req.algorithm,
    encoding,
  };
}

/** Computes an HMAC of the input and, when asked, compares it with `expected`. */
export function hmac(req: HmacRequest): MessageInitShape<typeof HmacResponseSchema> {
  const name = hashName(req.algorithm);
  if (req.key.case === undefined) throw invalidArgument("key", "one of key_text or key_data is required");
  const key = req.key.case === "keyText" ? Buffer.from(req.key.value, "utf8") : Buffer.from(req.key.value);
  check(key.length > 0, req.key.case === "keyText" ? "key_text" : "key_data", "must not be empty");
  const data = inputBytes(req.input);
  const encoding = req.encoding || Encoding.HEX;
  const digest = encodeBytes(createHmac(name, key).update(data).digest(), encoding, Encoding.HEX);
  let matches = false;
  if (req.expected !== "") {
    const a = Buffer.from(encoding === Encoding.HEX ? req.expected.trim().toLowerCase() : req.expected.trim());
    const b = Buffer.from(digest);
    matches = a.length === b.length && timingSafeEqual(a, b);
  }
  return { digest, algorithm: req.algorithm, encoding, matches };
}
