/**
 * Connect unary errors that connect-node raises before the policies run (a body that is not
 * valid JSON for the method, an unknown field or enum value) get the same shape as every other
 * error: the request id as google.rpc.RequestInfo and, for bad input, a google.rpc.BadRequest
 * naming the field.
 */
import { create, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { frame } from "../backends/h2-channel.js";
import { BadRequestSchema, RequestInfoSchema } from "#gen/google/rpc/error_details_pb.js";

interface WireDetail {
  type: string;
  value: string;
  debug?: unknown;
}

interface WireError {
  code?: string;
  message?: string;
  details?: WireDetail[];
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");

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

/** Adds RequestInfo and, where it can, BadRequest to a Connect JSON error body. */
export function enrichErrorBody(body: string, requestId: string, method: DescMethod | undefined): string {
  let err: WireError;
  try {
    err = JSON.parse(body);
  } catch {
    return body;
  }
  if (typeof err !== "object" || err === null || typeof err.code !== "string") return body;
  if (err.code === "internal" && isParseFailure(err.message ?? "")) err.code = "invalid_argument";
  err.details ??= [];
  const details = err.details;
  if (err.code === "invalid_argument" && !details.some((d) => d.type === BadRequestSchema.typeName)) {
    const violation = violationFromMessage(err.message ?? "", method?.input);
    if (violation) {
      const value = create(BadRequestSchema, { fieldViolations: [violation] });
      details.unshift({
        type: BadRequestSchema.typeName,
        debug: { fieldViolations: [violation] },
        value: b64(toBinary(BadRequestSchema, value)),
      });
      err.message = `${violation.field}: ${violation.description}`;
    }
  }
  if (!details.some((d) => d.type === RequestInfoSchema.typeName)) {
    details.push({
      type: RequestInfoSchema.typeName,
      debug: { requestId },
      value: b64(toBinary(RequestInfoSchema, create(RequestInfoSchema, { requestId }))),
    });
  }
  return JSON.stringify(err);
}

/** connect-node reports a request body that is not the method's message as `internal` ("parse binary: …"); it is the caller's bad input. */
export function isParseFailure(message: string): boolean {
  return message.startsWith("parse binary:");
}

/**
 * gRPC status fields (trailers, or the headers of a trailers-only answer) with a parse failure
 * turned into `invalid_argument` (3); true when something changed.
 */
export function fixGrpcParseFailure(fields: Headers | undefined): boolean {
  if (fields?.get("grpc-status") !== "13") return false;
  if (!isParseFailure(decodeURIComponent(fields.get("grpc-message") ?? ""))) return false;
  fields.set("grpc-status", "3");
  return true;
}

/** A gRPC-Web body whose trailer frame reports a parse failure, answered as `invalid_argument`. */
export function fixGrpcWebParseFailure(body: Uint8Array): Uint8Array {
  const bytes = Buffer.from(body);
  for (let at = 0; at + 5 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    if (bytes[at] & 0x80) {
      const fields = new Headers();
      for (const line of bytes
        .subarray(at + 5, at + 5 + length)
        .toString()
        .split("\r\n")
        .filter(Boolean)) {
        const colon = line.indexOf(":");
        fields.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      if (!fixGrpcParseFailure(fields)) return body;
      let text = "";
      fields.forEach((value, name) => {
        text += `${name}: ${value}\r\n`;
      });
      return Buffer.concat([bytes.subarray(0, at), frame(Buffer.from(text), 0x80)]);
    }
    at += 5 + length;
  }
  return body;
}
