/** Random: bytes, UUIDs and passwords from the operating system's CSPRNG. */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import {
  CharacterClass,
  RandomKind,
  type RandomRequest,
  type RandomResponseSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { bounded, encodeBytes } from "./encoding.js";

/** The characters of each class. */
export const characterClasses: Record<number, string> = {
  [CharacterClass.LOWERCASE]: "abcdefghijklmnopqrstuvwxyz",
  [CharacterClass.UPPERCASE]: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  [CharacterClass.DIGITS]: "0123456789",
  [CharacterClass.SYMBOLS]: "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
};

const maxOutputChars = 4 * 1024 * 1024;

function pick(chars: string[]): string {
  return chars[randomInt(chars.length)];
}

function password(length: number, classes: string[][], all: string[]): string {
  const out = classes.map(pick);
  while (out.length < length) out.push(pick(all));
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out.join("");
}

/** Produces `count` random values of the requested kind. */
export function random(req: RandomRequest): MessageInitShape<typeof RandomResponseSchema> {
  const count = bounded(req.count, "count", 1, 1000, 1);
  switch (req.kind) {
    case RandomKind.BYTES: {
      const length = bounded(req.length, "length", 1, 65_536, 32);
      check(length * count <= 1024 * 1024, "count", "length × count must be at most 1 MiB");
      return {
        values: Array.from({ length: count }, () => encodeBytes(randomBytes(length), req.encoding, Encoding.BASE64)),
      };
    }
    case RandomKind.UUID:
      return { values: Array.from({ length: count }, () => randomUUID()) };
    case RandomKind.PASSWORD: {
      const length = bounded(req.length, "length", 4, 1024, 20);
      check(length * count <= maxOutputChars, "count", "length × count is too large");
      let classes: string[][] = [];
      let all: string[];
      if (req.charset !== "") {
        all = [...new Set(Array.from(req.charset))];
        check(all.length >= 2, "charset", "must contain at least 2 distinct characters");
        check(all.length <= 1024, "charset", "must contain at most 1024 distinct characters");
      } else {
        const chosen = req.classes.length ? [...new Set(req.classes)] : [1, 2, 3, 4];
        classes = chosen.map((c, i) => {
          const chars = characterClasses[c];
          if (!chars) throw invalidArgument(`classes[${i}]`, `unknown character class ${c}`);
          return Array.from(chars);
        });
        check(classes.length <= length, "length", "must be at least the number of character classes");
        all = classes.flat();
      }
      return { values: Array.from({ length: count }, () => password(length, classes, all)) };
    }
    default:
      throw invalidArgument("kind", req.kind === RandomKind.UNSPECIFIED ? "is required" : `unknown kind ${req.kind}`);
  }
}
