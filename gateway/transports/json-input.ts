/**
 * A request in JSON as the method's input in protobuf binary, refused as the caller's bad input
 * naming the field where it can: protobuf-es says which field or enum it could not read only in
 * its error's text, and nothing of which field held an `Any` it cannot resolve or a well-known
 * type it cannot read (a Timestamp that is not RFC 3339), so both are worked out here.
 */
import { type DescMessage, fromJson, type JsonValue, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { invalidArgument } from "#runtime/errors.js";
import { fromJsonValue, gatewayJsonOptions } from "./json-options.js";

/** JSON text parsed, failing as protobuf-es's fromJsonString fails. */
function parseJson(text: string, typeName: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new Error(`cannot decode message ${typeName} from JSON: ${(e as Error).message}`);
  }
}

/** The JSON request as the method's input in binary; a body that does not fit names the field where it can. */
export function jsonToBinary(input: DescMessage, body: Uint8Array): Buffer {
  let text: string;
  try {
    text = gatewayJsonOptions.textDecoder.decode(body);
  } catch (cause) {
    throw new ConnectError("request body is not valid UTF-8", Code.InvalidArgument, undefined, undefined, cause);
  }
  let message: MessageShape<DescMessage>;
  let json: JsonValue | undefined;
  try {
    json = parseJson(text, input.typeName);
    message = fromJsonValue(input, json, gatewayJsonOptions);
  } catch (cause) {
    const err = ConnectError.from(cause, Code.InvalidArgument);
    const violation = jsonViolation(err.rawMessage, input, json);
    throw violation ? invalidArgument(violation.field, violation.description, cause) : err;
  }
  return Buffer.from(toBinary(input, message));
}

/**
 * The field a JSON decoding error of `input` is about, from the error's text and, where it names
 * no field (an `Any`, a well-known type), from the JSON itself.
 */
export function jsonViolation(
  message: string,
  input: DescMessage,
  json: unknown,
): { field: string; description: string } | undefined {
  if (json !== undefined && /cannot decode message google\.protobuf\./.test(message))
    return (
      wellKnownFault(input, json, (typeName) => gatewayJsonOptions.registry.getMessage(typeName) !== undefined) ??
      violationFromMessage(message, input)
    );
  return violationFromMessage(message, input);
}

/** Field names (proto names, dotted into nested messages) of `schema` whose enum is `enumName`. */
function fieldsWithEnum(schema: DescMessage, enumName: string, prefix = "", depth = 0): string[] {
  const out: string[] = [];
  for (const f of schema.fields) {
    if (f.enum?.typeName === enumName) out.push(prefix + f.name);
    if (f.message && depth < 3) out.push(...fieldsWithEnum(f.message, enumName, `${prefix}${f.name}.`, depth + 1));
  }
  return out;
}

/** The field a JSON decoding message is about, if it can be told. */
export function violationFromMessage(
  message: string,
  input: DescMessage | undefined,
): { field: string; description: string } | undefined {
  let m = /key "([^"]+)" is unknown/.exec(message);
  if (m) return { field: m[1], description: "unknown field" };
  m = /cannot decode field [\w.]*?\.(\w+) from JSON: (.*)$/.exec(message);
  if (m) return { field: m[1], description: m[2] };
  m = /cannot decode enum ([\w.]+) from JSON: (.*)$/.exec(message);
  if (m && input) {
    const [field] = fieldsWithEnum(input, m[1]);
    if (field) return { field, description: `unknown value ${m[2]} for ${m[1]}` };
  }
  return undefined;
}

/** How each well-known type is written in JSON, for its error. */
const wellKnownForms: Record<string, string> = {
  "google.protobuf.Timestamp": "an RFC 3339 time such as 2026-12-07T10:30:00Z",
  "google.protobuf.Duration": 'seconds ending in "s", such as "90s" or "1.5s"',
  "google.protobuf.FieldMask": 'field paths separated by commas, such as "name,tier"',
};

/** Why `value` is not the JSON of the well-known type `message` (undefined when it is), saying how it is written. */
export function wellKnownMisfit(message: DescMessage, value: JsonValue): string | undefined {
  try {
    fromJson(message, value);
    return undefined;
  } catch (err) {
    let why = String((err as Error).message).replace(/^cannot decode message [\w.]+ from JSON: /, "");
    if (why === JSON.stringify(value)) why = `got ${why}`;
    const form = wellKnownForms[message.typeName];
    return `not a ${message.name} (${why})${form ? `: write ${form}` : ""}`;
  }
}

/**
 * The first `google.protobuf.Any` in `json` (a value of `schema`) that protobuf-es cannot decode —
 * no `@type`, or a type nobody serves — or the first other well-known type it cannot read, named
 * by its proto path (`items[3]`, `created_after`). JSON decoding errors about them name neither
 * the field nor the item.
 */
export function wellKnownFault(
  schema: DescMessage,
  json: unknown,
  known: (typeName: string) => boolean,
  path = "",
  depth = 0,
): { field: string; description: string } | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json) || depth > 32) return undefined;
  const obj = json as Record<string, unknown>;
  for (const field of schema.fields) {
    const message = field.message;
    const value = obj[field.jsonName] ?? obj[field.name];
    if (!message || value == null) continue;
    const one = (v: unknown, at: string) => {
      if (message.typeName.startsWith("google.protobuf.") && message.typeName !== "google.protobuf.Any") {
        const description = wellKnownMisfit(message, v as JsonValue);
        return description === undefined ? undefined : { field: at, description };
      }
      if (message.typeName !== "google.protobuf.Any") return wellKnownFault(message, v, known, `${at}.`, depth + 1);
      const typeUrl = (v as { "@type"?: unknown } | null)?.["@type"];
      if (typeof typeUrl !== "string" || typeUrl === "")
        return {
          field: at,
          description:
            'needs "@type", e.g. "type.googleapis.com/flowforge.crypto.v1.HashRequest" (REST :batch routes take items without it)',
        };
      const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
      return known(typeName)
        ? undefined
        : { field: at, description: `"@type" names ${typeName}, which no service here knows` };
    };
    const at = `${path}${field.name}`;
    if (field.fieldKind === "list" && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const fault = one(value[i], `${at}[${i}]`);
        if (fault) return fault;
      }
    } else if (field.fieldKind === "message") {
      const fault = one(value, at);
      if (fault) return fault;
    }
  }
  return undefined;
}
