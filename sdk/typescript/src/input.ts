/**
 * Requests and answers as people handle them, read against the contracts' descriptors: enum
 * values in the spellings people type (`sha256`, `SHA-256`, `Sha_256`, `HASH_ALGORITHM_SHA256`)
 * where one value matches, which messages are files, and the extension a file's type takes. One
 * implementation for the gateway's JSON and REST layer and the `flowforge` command, so both
 * accept, refuse and name things alike.
 */
import { type DescEnum, type DescEnumValue, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/** A value that names no single enum value: which field, and what it says. */
export class SpellingError extends Error {
  constructor(
    /** The field's path in proto names: `csv.delimiter`, `items[1].algorithm`. */
    readonly field: string,
    /** What was wrong, listing the accepted values. */
    readonly description: string,
  ) {
    super(`${field}: ${description}`);
    this.name = "SpellingError";
  }
}

/** A spelling without case, `-`, `_`, spaces or dots: `SHA-256`, `sha_256` and `sha256` read alike. */
const squash = (text: string) => text.replace(/[-_\s.]/g, "").toUpperCase();

/** Each enum's values by every spelling that names one value only. */
const spellings = new WeakMap<DescEnum, Map<string, string>>();

function spellingsOf(e: DescEnum): Map<string, string> {
  let map = spellings.get(e);
  if (map) return map;
  const seen = new Map<string, string[]>();
  const add = (key: string, name: string) => {
    const names = seen.get(key) ?? [];
    if (!names.includes(name)) seen.set(key, [...names, name]);
  };
  for (const v of e.values) {
    if (v.number === 0) continue; // UNSPECIFIED: only by its full name
    add(squash(v.name), v.name);
    add(squash(v.localName), v.name);
    add(squash(shortName(e, v)), v.name);
  }
  map = new Map([...seen].filter(([, names]) => names.length === 1).map(([key, [name]]) => [key, name]));
  spellings.set(e, map);
  return map;
}

/**
 * A value's name without the prefix its enum's unset value declares, in lower case: `sha256` for
 * HASH_ALGORITHM_SHA256, `420` for CHROMA_SUBSAMPLING_420 (where protobuf-es's localName keeps
 * the prefix, since `420` is no identifier).
 */
function shortName(e: DescEnum, v: DescEnumValue): string {
  const prefix = e.values.find((u) => u.number === 0)?.name.replace(/UNSPECIFIED$/, "") ?? "";
  return (prefix && v.name.startsWith(prefix) ? v.name.slice(prefix.length) : v.localName).toLowerCase();
}

/** The enum's values as a person would type them (`sha256` for HASH_ALGORITHM_SHA256), the unset one left out. */
export function enumChoices(e: DescEnum): string[] {
  return e.values.filter((v) => v.number !== 0).map((v) => shortName(e, v));
}

/**
 * The full name of the enum value `text` names: its full name, or its name without the shared
 * prefix, in any case and with or without `-` / `_` where that names one value. Anything else
 * throws a SpellingError naming `field` and listing the values.
 */
export function enumValueName(e: DescEnum, text: string, field: string): string {
  if (e.values.some((v) => v.name === text)) return text;
  const found = spellingsOf(e).get(squash(text));
  if (found) return found;
  throw new SpellingError(field, `must be one of ${enumChoices(e).join(", ")} (got "${text.slice(0, 100)}")`);
}

/** Deepest JSON the walk follows (protobuf's own decoding limit is 100 as well). */
const maxDepth = 100;

/** The field of `schema` a JSON key names: its JSON name or its proto name. */
export function fieldByJsonKey(schema: DescMessage, key: string): DescField | undefined {
  return schema.fields.find((f) => f.jsonName === key || f.name === key);
}

/**
 * Rewrites every enum value in `json` (a value of `schema`: lists, maps and nested messages
 * included; well-known types left as they are) to its full name, in place; answers `json`.
 * Throws a SpellingError naming the field (`items[1].algorithm`) for a value that names none.
 */
export function spellEnums(schema: DescMessage, json: unknown, path = "", depth = 0): unknown {
  if (
    typeof json !== "object" ||
    json === null ||
    Array.isArray(json) ||
    schema.typeName.startsWith("google.protobuf.")
  )
    return json;
  if (depth > maxDepth) throw new SpellingError(path || "body", `nested deeper than ${maxDepth} levels`);
  const obj = json as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    const field = fieldByJsonKey(schema, key);
    if (!field || value === null) continue;
    const at = path ? `${path}.${field.name}` : field.name;
    const one = (v: unknown, where: string): unknown => {
      if (field.enum && typeof v === "string") return enumValueName(field.enum, v, where);
      if (field.message) return spellEnums(field.message, v, where, depth + 1);
      return v;
    };
    if (field.fieldKind === "list" && Array.isArray(value)) obj[key] = value.map((v, i) => one(v, `${at}[${i}]`));
    else if (field.fieldKind === "map" && typeof value === "object" && !Array.isArray(value))
      obj[key] = Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, one(v, `${at}[${k}]`)]));
    else if (field.fieldKind !== "map" && field.fieldKind !== "list") obj[key] = one(value, at);
  }
  return obj;
}

/** File name extensions by the media types of the files the contracts answer (a file answered without a name is named with one). */
export const fileExtensions: Readonly<Record<string, string>> = {
  "application/pdf": "pdf",
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "image/gif": "gif",
  "image/avif": "avif",
  "image/tiff": "tiff",
};

/**
 * A file: a message whose `source` oneof holds the bytes (`data`) or a stored blob's id
 * (`blob_id`) — flowforge.common.v1.FileRef and each capability's document and image messages.
 */
export function isFileMessage(message: DescMessage): boolean {
  const fields = message.oneofs.find((o) => o.name === "source")?.fields ?? [];
  return (
    fields.some((f) => f.name === "data" && f.fieldKind === "scalar" && f.scalar === ScalarType.BYTES) &&
    fields.some((f) => f.name === "blob_id")
  );
}
