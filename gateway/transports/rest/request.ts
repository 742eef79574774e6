/**
 * A REST request as the method's input message: the body (as the rule's `body` says), the path
 * variables and the query parameters, each put in its field by the input's descriptor; then the
 * friendly spellings workflow tools send made canonical: enum values without their prefix and in
 * any case (`"sha256"` for `HASH_ALGORITHM_SHA256`).
 */
import {
  type DescField,
  type DescMessage,
  type JsonObject,
  type JsonValue,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { invalidArgument } from "#runtime/errors.js";
import { enumValueName, fieldByJsonKey, SpellingError, spellEnums } from "#sdk/input.js";
import { jsonViolation, wellKnownMisfit } from "../json-input.js";
import { isScalarJson, wrapperField } from "./templates.js";
import { fromJsonValue, gatewayJsonOptions } from "../json-options.js";

/** Most query parameters one request may carry. */
export const maxQueryParameters = 100;

/** Messages whose JSON is not their fields (well-known types): not walked into. */
const opaque = (m: DescMessage) => m.typeName.startsWith("google.protobuf.");

/** Enum spellings rewritten (sdk/typescript/src/input.ts), a value naming none refused naming its field. */
export function canonicalEnums(schema: DescMessage, json: unknown): unknown {
  return spelled(() => spellEnums(schema, json));
}

/** `read()`, its SpellingError as the caller's bad input. */
function spelled<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof SpellingError) throw invalidArgument(err.field, err.description, err);
    throw err;
  }
}

/** A path or query value as the JSON of its field (numbers, booleans and enums from text). */
function paramJson(field: DescField, text: string, path: string, name = field.name): JsonValue {
  if (field.enum) return spelled(() => enumValueName(field.enum!, text, path));
  if (field.message) {
    // A well-known type written as one value: a wrapper reads as its value's type, the rest as
    // text, read here so a bad one is named (`created_after: not a Timestamp (…)`).
    const wrapped = wrapperField(field.message);
    if (wrapped) return paramJson(wrapped, text, path, name);
    const misfit = wellKnownMisfit(field.message, text);
    if (misfit) throw invalidArgument(name, misfit);
    return text;
  }
  const scalar = field.fieldKind === "scalar" || field.fieldKind === "list" ? field.scalar : undefined;
  switch (scalar) {
    case ScalarType.BOOL:
      if (text === "true" || text === "false") return text === "true";
      throw invalidArgument(name, `must be true or false, not "${text}"`);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
    case ScalarType.INT32:
    case ScalarType.UINT32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32: {
      const n = text.trim() === "" ? Number.NaN : Number(text);
      if (Number.isNaN(n)) throw invalidArgument(name, `must be a number, not "${text}"`);
      return n;
    }
    default:
      return text; // strings, bytes (base64) and 64-bit integers travel as JSON strings
  }
}

/** Sets `value` at the dotted proto-name `path` of `json` (a value of `schema`); throws naming an unknown field. */
function setParam(schema: DescMessage, json: JsonObject, [path, text]: [string, string]) {
  const names = path.split(".");
  let message = schema;
  let target = json;
  for (let i = 0; i < names.length; i++) {
    const field = fieldByJsonKey(message, names[i]);
    if (!field) throw invalidArgument(path, `unknown field (${message.typeName} has no field ${names[i]})`);
    const last = i === names.length - 1;
    if (!last) {
      if (field.fieldKind !== "message" || opaque(field.message))
        throw invalidArgument(path, `${names[i]} is not a message field`);
      target[field.jsonName] ??= {};
      target = target[field.jsonName] as JsonObject;
      message = field.message;
      continue;
    }
    if ((field.fieldKind === "message" && !isScalarJson(field.message)) || field.fieldKind === "map")
      throw invalidArgument(path, "a message field cannot be set from the path or query; send it in the body");
    const value = paramJson(field, text, path);
    if (field.fieldKind !== "list") target[field.jsonName] = value;
    else {
      target[field.jsonName] ??= [];
      (target[field.jsonName] as JsonValue[]).push(value);
    }
  }
}

/** What a REST request carries, read from the wire. */
export interface RestParts {
  /** Path variables by field name, decoded. */
  params: Record<string, string>;
  /** Query parameters, minus the gateway's own (`wait`). */
  query: URLSearchParams;
  /** The body as parsed JSON; undefined when there is none. */
  body: unknown;
  /** Which field the body fills: `*`, a field name, or `""` (no body). */
  bodyField: string;
  /** The body was a file (its field already in `body`): the other fields come from the query. */
  fileBody?: boolean;
}

/** The method's input message from a REST request; bad input is `invalid_argument` naming the field. */
export function restInput<T extends DescMessage>(schema: T, parts: RestParts): MessageShape<T> {
  let json: JsonObject = {};
  if (parts.body !== undefined) {
    if (parts.bodyField === "*") {
      if (typeof parts.body !== "object" || parts.body === null || Array.isArray(parts.body))
        throw invalidArgument("body", `must be a JSON object (${schema.typeName})`);
      json = parts.body as JsonObject;
    } else if (parts.bodyField) {
      const field = fieldByJsonKey(schema, parts.bodyField);
      if (field) json[field.jsonName] = parts.body as JsonValue;
    }
  }
  canonicalEnums(schema, json);
  if (parts.bodyField === "*" && !parts.fileBody && [...parts.query.keys()].length > 0)
    throw invalidArgument([...parts.query.keys()][0], "this route takes its input from the body, not the query");
  for (const param of parts.query) setParam(schema, json, param);
  for (const [name, value] of Object.entries(parts.params)) {
    const field = fieldByJsonKey(schema, name);
    if (field && json[field.jsonName] !== undefined && json[field.jsonName] !== value)
      throw invalidArgument(name, "differs between the path and the body");
    setParam(schema, json, [name, value]);
  }
  try {
    return fromJsonValue(schema, json, gatewayJsonOptions);
  } catch (cause) {
    const err = ConnectError.from(cause);
    const violation = jsonViolation(err.rawMessage, schema, json);
    throw violation
      ? invalidArgument(violation.field, violation.description, cause)
      : invalidArgument("body", err.rawMessage, cause);
  }
}
