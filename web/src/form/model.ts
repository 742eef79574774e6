/**
 * The form of a request: its protobuf JSON (field JSON names as keys, enums by full name, 64-bit
 * integers and bytes as strings), built field by field from the message descriptor, and turned
 * into the request with `fromJson` when sent, which names the field it cannot read.
 */
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  type JsonObject,
  type JsonValue,
  ScalarType,
} from "@bufbuild/protobuf";

/** Well-known types edited as JSON text. */
const jsonTypes = new Set([
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Any",
]);
/** Well-known types edited as one line of text in their JSON form. */
const textTypes = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"]);

/** How a message is edited. */
export function messageEditorKind(message: DescMessage): "json" | "text" | "file" | "fields" {
  if (jsonTypes.has(message.typeName)) return "json";
  if (
    textTypes.has(message.typeName) ||
    (message.typeName.startsWith("google.protobuf.") && message.typeName.endsWith("Value"))
  )
    return "text";
  if (isFileReference(message)) return "file";
  return "fields";
}

/**
 * A reference to a file (`FileRef`, the PDF `Document`): a `source` oneof of its bytes (`data`)
 * or a blob id (`blob_id`). Edited as a file drop: small files inline, larger ones uploaded.
 */
export function isFileReference(message: DescMessage): boolean {
  const source = message.oneofs.find((o) => o.name === "source");
  if (!source) return false;
  return (
    source.fields.some((f) => f.name === "data" && f.fieldKind === "scalar" && f.scalar === ScalarType.BYTES) &&
    source.fields.some((f) => f.name === "blob_id")
  );
}

/** An enum value's name as shown: without the enum's shared prefix (`SHA256`, not `HASH_ALGORITHM_SHA256`). */
export function enumLabel(enumDesc: DescEnum, name: string): string {
  return enumDesc.values.find((v) => v.name === name)?.localName ?? name;
}

/**
 * A REST example rewritten for protobuf JSON: enums given by their short lower-case form
 * (`sha256`, as the REST projection accepts) by their full name.
 */
export function normalizeExample(message: DescMessage, example: JsonValue | undefined): JsonObject {
  if (!isObject(example)) return {};
  const out: JsonObject = {};
  for (const field of message.fields) {
    const key = field.jsonName in example ? field.jsonName : field.name in example ? field.name : undefined;
    if (key === undefined) continue;
    out[field.jsonName] = normalizeValue(field, example[key]);
  }
  return out;
}

function normalizeValue(field: DescField, value: JsonValue): JsonValue {
  const one = (v: JsonValue): JsonValue => {
    if (field.enum && typeof v === "string") return fullEnumName(field.enum, v);
    if (field.message && messageEditorKind(field.message) === "fields") return normalizeExample(field.message, v);
    return v;
  };
  if (field.fieldKind === "list" && Array.isArray(value)) return value.map(one);
  if (field.fieldKind === "map" && isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, one(v)]));
  return one(value);
}

function fullEnumName(enumDesc: DescEnum, name: string): string {
  const found = enumDesc.values.find((v) => v.name === name || v.localName.toLowerCase() === name.toLowerCase());
  return found?.name ?? name;
}

/** Scalars that are numbers in JSON (64-bit integers are strings there). */
const jsonNumbers = new Set([
  ScalarType.DOUBLE,
  ScalarType.FLOAT,
  ScalarType.INT32,
  ScalarType.UINT32,
  ScalarType.SINT32,
  ScalarType.FIXED32,
  ScalarType.SFIXED32,
]);

/** Whether a scalar field's JSON value is a number. */
export function isJsonNumber(scalar: ScalarType | undefined): boolean {
  return scalar !== undefined && jsonNumbers.has(scalar);
}

/** The value a new list item or map entry of `field` starts with. */
export function newElement(field: DescField): JsonValue {
  if (field.message) return {};
  return field.scalar === ScalarType.BOOL ? false : "";
}

/** The key a new map entry starts with: `key1`, `key2`… for text keys, the entry's number for numeric keys. */
export function newMapKey(field: DescField, entries: number): string {
  if (field.fieldKind !== "map" || field.mapKey === ScalarType.STRING) return `key${entries + 1}`;
  return field.mapKey === ScalarType.BOOL ? String(entries === 0) : String(entries + 1);
}

/**
 * A field's new value, or how to make it from the latest one. Editors that finish late (a file
 * uploaded to the blob store) send the latter, so edits made meanwhile elsewhere in the form stay.
 */
export type Update<V> = V | undefined | ((latest: V | undefined) => V | undefined);

/** The value an update leaves. */
export function applyUpdate<V>(update: Update<V>, latest: V | undefined): V | undefined {
  return typeof update === "function" ? (update as (latest: V | undefined) => V | undefined)(latest) : update;
}

/** `object` with `key` set to what `update` makes of its value (removed when that is undefined). */
export function withField(object: JsonValue | undefined, key: string, update: Update<JsonValue>): JsonObject {
  const next = { ...(isObject(object) ? object : {}) };
  const v = applyUpdate(update, next[key]);
  if (v === undefined) delete next[key];
  else next[key] = v;
  return next;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The field of `message` a violation's path (`document.data`, `items[2].text`) starts with. */
export function violationKey(path: string): string {
  return path.replace(/\[\d+\]/g, "");
}
