/**
 * Path templates of `google.api.http` rules, and which routes have a `:batch` twin: shared by the
 * gateway (routes.ts) and the OpenAPI generator (scripts/generate/openapi.ts), which reads the
 * protos as `buf build` does and so imports nothing generated.
 */
import {
  type DescExtension,
  type DescField,
  type DescFile,
  type DescMessage,
  type DescMethod,
  getOption,
  hasOption,
  ScalarType,
} from "@bufbuild/protobuf";
import { isFileMessage } from "#sdk/input.js";

/** A path segment: a literal, or a `{field}` variable. */
export type Segment = { literal: string } | { field: string };

/** Splits a template into segments and its `:verb` suffix; throws on what the gateway cannot serve. */
export function parseTemplate(template: string): { segments: Segment[]; suffix: string } {
  if (!template.startsWith("/")) throw new Error(`path template ${template} does not start with /`);
  const parts = template.slice(1).split("/");
  let suffix = "";
  const last = parts[parts.length - 1];
  const colon = last.lastIndexOf(":");
  if (colon > last.lastIndexOf("}")) {
    suffix = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
  }
  const segments = parts.map((p): Segment => {
    const m = /^\{([a-z_][a-z0-9_]*)\}$/.exec(p);
    if (m) return { field: m[1] };
    if (/[{}*]/.test(p)) throw new Error(`path template ${template}: segment ${p} is not supported`);
    return { literal: p };
  });
  return { segments, suffix };
}

/** Whether a route gets a `<path>:batch` twin: unary, POST of the whole body, no `:verb` of its own. */
export function batchable(method: DescMethod, rule: { verb: string; body: string }, suffix: string): boolean {
  return method.methodKind === "unary" && rule.verb === "POST" && rule.body === "*" && suffix === "";
}

/** The method whose REST route also long-polls with `?wait=`, beside every `:batch` route. */
export const waitableMethod = "flowforge.jobs.v1.JobService.GetJob";

/** The REST prefix a route lives under: `crypto` for `/api/v1/crypto/hash:batch`. */
export function prefixOf(template: string): string {
  return template.split("/")[3]?.split(":")[0] ?? "";
}

/**
 * Whether a streamed message carries a file: a `part` oneof of a description and `bytes chunk`
 * (BlobService's Upload and Download). Over HTTP such a stream is the file's bytes themselves.
 */
export function isFileStream(message: DescMessage): boolean {
  const part = message.oneofs.find((o) => o.name === "part");
  return (
    part?.fields.some((f) => f.name === "chunk" && f.fieldKind === "scalar" && f.scalar === ScalarType.BYTES) ?? false
  );
}

/** Well-known types whose JSON is one string (Timestamp, Duration, FieldMask). */
const textJsonTypes = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"]);

/**
 * Whether a message's JSON is a single value (a Timestamp's RFC 3339 text, a wrapper's number),
 * so a path or query parameter can carry it like a scalar.
 */
export function isScalarJson(message: DescMessage): boolean {
  return textJsonTypes.has(message.typeName) || wrapperField(message) !== undefined;
}

/** The `value` field of a wrapper type (`google.protobuf.Int64Value`, ...), else undefined. */
export function wrapperField(message: DescMessage): DescField | undefined {
  if (!/^google\.protobuf\.\w+Value$/.test(message.typeName)) return undefined;
  const [field] = message.fields;
  return message.fields.length === 1 && field.name === "value" && field.fieldKind === "scalar" ? field : undefined;
}

/** The fields a form's file parts fill: file messages, single or repeated, at the top of the input. */
export function fileFields(input: DescMessage): DescField[] {
  return input.fields.filter(
    (f) => (f.fieldKind === "message" || f.fieldKind === "list") && f.message !== undefined && isFileMessage(f.message),
  );
}

/**
 * The field a request body that is a file itself fills (n8n's "Binary File" body, `curl
 * --data-binary`): the input's one file field, else its one `bytes` field; none when it has no
 * such field or several.
 */
export function bodyFileField(input: DescMessage): DescField | undefined {
  const files = fileFields(input).filter((f) => f.fieldKind !== "list");
  if (files.length > 0) return files.length === 1 && fileFields(input).length === 1 ? files[0] : undefined;
  const bytes = input.fields.filter((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.BYTES);
  return bytes.length === 1 ? bytes[0] : undefined;
}

/** How many message levels below an answer's own fields the gateway looks for files in it. */
export const answerFileDepth = 2;

/** The media types of the files an answer can hold, down to `answerFileDepth` (where the gateway looks), each once. */
export function answerMediaTypes(output: DescMessage, depth = 0, found = new Set<string>()): Set<string> {
  for (const field of output.fields) {
    const type = field.fieldKind === "message" || field.fieldKind === "list" ? field.message : undefined;
    if (!type) continue;
    if (isFileMessage(type)) found.add(fileMediaType(field));
    else if (depth < answerFileDepth) answerMediaTypes(type, depth + 1, found);
  }
  return found;
}

/** The extension that declares a file field's media type, found among the files a file imports. */
const mediaTypeExtension = "flowforge.common.v1.media_type";

function findExtension(file: DescFile, typeName: string, seen = new Set<DescFile>()): DescExtension | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  return (
    file.extensions.find((e) => e.typeName === typeName) ??
    file.dependencies.map((d) => findExtension(d, typeName, seen)).find((e) => e !== undefined)
  );
}

/**
 * What a file field's files are: its `(flowforge.common.v1.media_type)` option where it has one,
 * else by its message (a PDF for a `Document`, an image for an `Image`).
 */
export function fileMediaType(field: DescField): string {
  const extension = findExtension(field.parent.file, mediaTypeExtension);
  if (extension && hasOption(field, extension)) return getOption(field, extension) as string;
  if (field.message?.name === "Document") return "application/pdf";
  if (field.message?.name === "Image") return "image/*";
  return "application/octet-stream";
}
