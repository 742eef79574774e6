/** How the gateway reads and writes Connect JSON, on every path (the unary transport, connect-node for streams, REST). */
import {
  type DescField,
  type DescMessage,
  fromJson,
  type JsonObject,
  type JsonReadOptions,
  type JsonValue,
  type JsonWriteOptions,
  type Message,
  type MessageShape,
  ScalarType,
  toJson,
  toJsonString,
} from "@bufbuild/protobuf";
import { catalogRegistry } from "../../services/catalog.js";

/**
 * A misspelt field is an error naming it, not a silently ignored value; `Any` resolves every type
 * the services know; a body that is not valid UTF-8 is refused, not patched with U+FFFD.
 */
export const gatewayJsonOptions = {
  ignoreUnknownFields: false,
  registry: catalogRegistry(),
  textDecoder: new TextDecoder("utf-8", { fatal: true }),
};

/** Bytes fields shorter than this are left to protobuf-es (its encoder is fine on small values). */
const nodeBase64From = 4096;

/**
 * `toJsonString`, with large bytes fields (documents, images) base64-encoded by Node rather than
 * by protobuf-es, whose pure-JavaScript encoder takes about a second for 4 MB (Node: 30 ms). The
 * large values are taken out of the message, the rest is written by protobuf-es, and the values
 * are put back into the JSON under their JSON names: the same text protobuf-es would write.
 */
export function toJsonText(schema: DescMessage, message: Message, options: Partial<JsonWriteOptions> = {}): string {
  const taken: { restore(): void; put(json: JsonObject): void }[] = [];
  collect(schema, message as unknown as Record<string, unknown>, [], taken);
  if (taken.length === 0) return toJsonString(schema, message, options);
  let json: JsonObject;
  try {
    json = toJson(schema, message, options) as JsonObject;
  } finally {
    for (const t of taken) t.restore();
  }
  for (const t of taken) t.put(json);
  return JSON.stringify(json);
}

type Step = string | number;

/** Where a value sits in the JSON: object keys (JSON names) and list indices. */
function at(json: JsonObject, path: Step[]): JsonObject {
  let node: unknown = json;
  for (const step of path) node = (node as Record<Step, unknown>)[step];
  return node as JsonObject;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

function collect(
  schema: DescMessage,
  message: Record<string, unknown>,
  path: Step[],
  taken: { restore(): void; put(json: JsonObject): void }[],
) {
  // Well-known types have JSON forms of their own (an Any's bytes are the message it holds,
  // written as that message): protobuf-es writes them whole.
  if (schema.typeName.startsWith("google.protobuf.")) return;
  for (const member of schema.members) {
    if (member.kind === "oneof") {
      const slot = message[member.localName] as { case?: string; value?: unknown };
      const field = member.fields.find((f) => f.localName === slot.case);
      if (!field) continue;
      if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES) {
        const value = slot.value as Uint8Array;
        if (value.length < nodeBase64From) continue;
        slot.value = new Uint8Array(0);
        taken.push({
          restore: () => {
            slot.value = value;
          },
          put: (json) => {
            at(json, path)[field.jsonName] = b64(value);
          },
        });
      } else if (field.fieldKind === "message" && slot.value)
        collect(field.message, slot.value as Record<string, unknown>, [...path, field.jsonName], taken);
      continue;
    }
    const field = member;
    const value = message[field.localName];
    if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES) {
      const bytes = value as Uint8Array;
      if (bytes.length < nodeBase64From) continue;
      message[field.localName] = new Uint8Array(0);
      taken.push({
        restore: () => {
          message[field.localName] = bytes;
        },
        put: (json) => {
          at(json, path)[field.jsonName] = b64(bytes);
        },
      });
    } else if (field.fieldKind === "message" && value) {
      collect(field.message, value as Record<string, unknown>, [...path, field.jsonName], taken);
    } else if (field.fieldKind === "list" && field.listKind === "message") {
      for (const [i, item] of (value as Record<string, unknown>[]).entries())
        collect(field.message, item, [...path, field.jsonName, i], taken);
    }
  }
}

/**
 * Standard or URL-safe base64, padded or not, the two alphabets even mixed: what protobuf-es
 * accepts for bytes. One character class (an alternation of two took three times as long).
 */
const base64Text = /^[A-Za-z0-9+/_-]*={0,2}$/;

type Hop = { field: DescField; index?: number };

/** A field's value in a message, through its oneof when it is in one. */
function fieldValue(message: Record<string, unknown>, field: DescField): unknown {
  return field.oneof ? (message[field.oneof.localName] as { value?: unknown }).value : message[field.localName];
}

/**
 * `fromJson`, with large base64 bytes fields (documents, images) decoded by Node rather than by
 * protobuf-es (about 20 ms a megabyte): the strings are taken out of the JSON, the rest is read
 * by protobuf-es, and the bytes are put into the message. Text that is not base64 is left for
 * protobuf-es to refuse with its own message.
 */
export function fromJsonValue<D extends DescMessage>(
  schema: D,
  json: JsonValue,
  options: Partial<JsonReadOptions>,
): MessageShape<D> {
  const found: { path: Hop[]; bytes: Uint8Array }[] = [];
  if (json !== null && typeof json === "object" && !Array.isArray(json)) strip(schema, json, [], found);
  const message = fromJson(schema, json, options);
  for (const { path, bytes } of found) {
    let node = message as unknown as Record<string, unknown>;
    for (const hop of path.slice(0, -1)) {
      const value = fieldValue(node, hop.field);
      node = (hop.index === undefined ? value : (value as unknown[])[hop.index]) as Record<string, unknown>;
    }
    const last = path[path.length - 1].field;
    if (last.oneof) node[last.oneof.localName] = { case: last.localName, value: bytes };
    else node[last.localName] = bytes;
  }
  return message;
}

function strip(schema: DescMessage, json: JsonObject, path: Hop[], found: { path: Hop[]; bytes: Uint8Array }[]) {
  if (schema.typeName.startsWith("google.protobuf.")) return;
  for (const [key, value] of Object.entries(json)) {
    const field = schema.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) continue; // protobuf-es names it
    if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES) {
      if (typeof value === "string" && value.length >= nodeBase64From && base64Text.test(value)) {
        found.push({ path: [...path, { field }], bytes: new Uint8Array(Buffer.from(value, "base64")) });
        json[key] = "";
      }
    } else if (field.fieldKind === "message" && value !== null && typeof value === "object" && !Array.isArray(value)) {
      strip(field.message, value, [...path, { field }], found);
    } else if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(value)) {
      for (const [index, item] of value.entries())
        if (item !== null && typeof item === "object" && !Array.isArray(item))
          strip(field.message, item, [...path, { field, index }], found);
    }
  }
}
