/** Input and output helpers shared by the crypto handlers. */
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import { HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";

/** A `oneof { string text; bytes data; }` input as protobuf-es represents it. */
export type TextOrData =
  | { case: "text"; value: string }
  | { case: "data"; value: Uint8Array }
  | { case: undefined; value?: undefined };

/** The bytes of a text-or-data input; `field` names the oneof in errors. */
export function inputBytes(input: TextOrData, field = "input"): Buffer {
  switch (input.case) {
    case "text":
      return Buffer.from(input.value, "utf8");
    case "data":
      return Buffer.from(input.value.buffer, input.value.byteOffset, input.value.byteLength);
    default:
      throw invalidArgument(field, "one of text or data is required");
  }
}

/** Renders bytes in the requested encoding, `fallback` when unspecified. */
export function encodeBytes(bytes: Uint8Array, encoding: Encoding, fallback: Encoding, field = "encoding"): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (encoding === Encoding.UNSPECIFIED ? fallback : encoding) {
    case Encoding.HEX:
      return buf.toString("hex");
    case Encoding.BASE64:
      return buf.toString("base64");
    case Encoding.BASE64URL:
      return buf.toString("base64url");
    default:
      throw invalidArgument(field, `unknown encoding ${encoding}`);
  }
}

const patterns: Record<number, RegExp> = {
  [Encoding.HEX]: /^(?:[0-9a-fA-F]{2})*$/,
  [Encoding.BASE64]: /^[A-Za-z0-9+/]*={0,2}$/,
  [Encoding.BASE64URL]: /^[A-Za-z0-9_-]*$/,
};

/** Parses text in the given encoding (strictly), naming `field` when it is malformed. */
export function decodeText(text: string, encoding: Encoding, fallback: Encoding, field: string): Buffer {
  const effective = encoding === Encoding.UNSPECIFIED ? fallback : encoding;
  const pattern = patterns[effective];
  check(pattern !== undefined, "encoding", `unknown encoding ${encoding}`);
  const trimmed = text.trim();
  check(pattern.test(trimmed), field, `not valid ${Encoding[effective].toLowerCase()}`);
  return Buffer.from(
    trimmed,
    effective === Encoding.HEX ? "hex" : effective === Encoding.BASE64 ? "base64" : "base64url",
  );
}

const hashNames: Partial<Record<HashAlgorithm, string>> = {
  [HashAlgorithm.MD5]: "md5",
  [HashAlgorithm.SHA1]: "sha1",
  [HashAlgorithm.SHA256]: "sha256",
  [HashAlgorithm.SHA384]: "sha384",
  [HashAlgorithm.SHA512]: "sha512",
  [HashAlgorithm.SHA3_256]: "sha3-256",
  [HashAlgorithm.SHA3_384]: "sha3-384",
  [HashAlgorithm.SHA3_512]: "sha3-512",
  [HashAlgorithm.BLAKE2B_512]: "blake2b512",
};

/** The node:crypto name of a hash algorithm; refuses unset or unknown values. */
export function hashName(algorithm: HashAlgorithm, field = "algorithm"): string {
  const name = hashNames[algorithm];
  if (!name) {
    throw invalidArgument(
      field,
      algorithm === HashAlgorithm.UNSPECIFIED ? "is required" : `unknown hash algorithm ${algorithm}`,
    );
  }
  return name;
}

/** Checks an unsigned integer option against its bounds, or returns its default when zero. */
export function bounded(value: number, field: string, min: number, max: number, fallback: number): number {
  if (value === 0) return fallback;
  check(value >= min && value <= max, field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}
