/**
 * A request in JSON as the method's input in protobuf binary, refused as the caller's bad input
 * naming the field where it can: protobuf-es says which field or enum it could not read only in
 * its error's text, and nothing about an `Any` it cannot resolve, so both are worked out here.
 */
import { type DescMessage, type JsonValue, type MessageShape, toBinary } from "@bufbuild/protobuf";
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
  try {
    message = fromJsonValue(input, parseJson(text, input.typeName), gatewayJsonOptions);
  } catch (cause) {
    const err = ConnectError.from(cause, Code.InvalidArgument);
    const violation =
      (err.rawMessage.includes("google.protobuf.Any") ? anyFaultOf(input, text) : undefined) ??
      violationFromMessage(err.rawMessage, input);
    throw violation ? invalidArgument(violation.field, violation.description, cause) : err;
  }
  return Buffer.from(toBinary(input, message));
}

/** Which Any of a request protobuf-es could not decode (anyFault), from its JSON text. */
function anyFaultOf(input: DescMessage, text: string) {
  try {
    return anyFault(
      input,
      JSON.parse(text),
      (typeName) => gatewayJsonOptions.registry.getMessage(typeName) !== undefined,
    );
  } catch {
    return undefined;
  }
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

/**
 * The first `google.protobuf.Any` in `json` (a value of `schema`) that protobuf-es cannot decode —
 * no `@type`, or a type nobody serves — named by its proto path (`items[3]`). JSON decoding
 * errors about Any name neither the field nor the item.
 */
export function anyFault(
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
    if (
      !message ||
      value == null ||
      (message.typeName.startsWith("google.protobuf.") && message.typeName !== "google.protobuf.Any")
    )
      continue;
    const one = (v: unknown, at: string) => {
      if (message.typeName !== "google.protobuf.Any") return anyFault(message, v, known, `${at}.`, depth + 1);
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
