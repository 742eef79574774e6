/**
 * Files over plain HTTP on the REST routes, so a workflow passes binary data through without
 * base64:
 * - a method that streams a file in (BlobService/Upload) takes the request body as the file, or
 *   the one file of a `multipart/form-data` form (what n8n's HTTP Request node sends);
 * - a method that streams a file out (BlobService/Download) answers the file itself;
 * - any other route takes a form too: file parts fill the document or image field they are named
 *   after (spilled to the blob store past the inline bound), text parts the fields they are named
 *   after, and a `json` part is the body;
 * - an answer that holds one file is that file when the caller asks for it (`Accept:
 *   application/pdf`, `image/*`, `application/octet-stream`).
 * Which methods and fields these are is read from the descriptors (templates.ts), not listed.
 */
import type * as http from "node:http";
import type { Readable } from "node:stream";
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import busboy from "busboy";
import { Code, ConnectError } from "@connectrpc/connect";
import type { BlobStore } from "#blobs/index.js";
import { invalidArgument } from "#runtime/errors.js";
import { fileExtensions, isFileMessage } from "#sdk/input.js";
import { answerFileDepth, fileFields } from "./templates.js";
import type { Req, Res } from "../node-http.js";

/** One part of a form: a text field, or a file whose bytes must be read before the next part comes. */
export type FormPart =
  | { kind: "field"; name: string; value: string }
  | { kind: "file"; name: string; filename: string; mimeType: string; stream: Readable };

/** Whether a request carries a form. */
export const isMultipart = (contentType: string | undefined) => /^multipart\/form-data\s*;/i.test(contentType ?? "");

/** The parts of a multipart/form-data body, in order; bounded in count and text size. */
export async function* formParts(req: Req): AsyncGenerator<FormPart> {
  const queue: (FormPart | Error | null)[] = [];
  let wake: (() => void) | undefined;
  const push = (x: FormPart | Error | null) => {
    queue.push(x);
    wake?.();
  };
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: req.headers as http.IncomingHttpHeaders,
      limits: { fields: 200, fieldSize: 1024 * 1024, files: 100, parts: 300 },
    });
  } catch (err) {
    throw invalidArgument("body", `is not a multipart form: ${(err as Error).message}`, err);
  }
  bb.on("field", (name, value, info) => {
    if (info.valueTruncated) push(invalidArgument(name, "is over the 1 MiB a form's text field may be"));
    else push({ kind: "field", name, value });
  });
  bb.on("file", (name, stream, info) =>
    push({ kind: "file", name, filename: info.filename ?? "", mimeType: info.mimeType, stream }),
  );
  for (const limit of ["partsLimit", "filesLimit", "fieldsLimit"] as const)
    bb.on(limit, () => push(invalidArgument("body", "has too many parts (at most 100 files and 200 fields)")));
  bb.on("error", (err) =>
    push(invalidArgument("body", `is not a well-formed multipart form: ${(err as Error).message}`)),
  );
  bb.on("close", () => push(null));
  (req as Readable).pipe(bb);
  try {
    for (;;) {
      if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const next = queue.shift()!;
      if (next === null) return;
      if (next instanceof Error) throw next;
      yield next;
    }
  } finally {
    (req as Readable).unpipe(bb);
    (req as Readable).resume(); // what is left of the body is read and dropped
  }
}

/** A file name from `Content-Disposition: attachment; filename="..."` (or `filename*=UTF-8''...`). */
export function dispositionFilename(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      return undefined;
    }
  }
  return /filename\s*=\s*"?([^";]+)"?/i.exec(header)?.[1]?.trim();
}

/** `Content-Disposition` for a file answered to a browser or a workflow tool. */
export function contentDisposition(filename: string, fallback: string): string {
  const name = filename || fallback;
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** The bytes of a part, read whole up to `limit`; undefined (and the part left unread) past it. */
async function readUpTo(stream: Readable, limit: number): Promise<{ head: Buffer[]; size: number; whole: boolean }> {
  const head: Buffer[] = [];
  let size = 0;
  // Past the limit the rest stays readable (a file spilled to the blob store reads on from here).
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    head.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > limit) return { head, size, whole: false };
  }
  return { head, size, whole: true };
}

/** The input field a form's file part fills, by proto or JSON name: a file message, single or repeated. */
function fileField(input: DescMessage, name: string): DescField | undefined {
  return fileFields(input).find((f) => f.name === name || f.jsonName === name);
}

/**
 * A form's text part as the JSON the field takes: `true`/`false` for a bool, a JSON object or
 * list for a message, the text itself otherwise (proto JSON reads numbers and enum names from
 * strings); repeated fields collect every part of their name, and a part holding a JSON list
 * (`languages=["eng","deu"]`) gives all its items.
 */
function textField(input: DescMessage, body: Record<string, unknown>, part: { name: string; value: string }) {
  const { name, value: text } = part;
  const field = input.fields.find((f) => f.name === name || f.jsonName === name);
  if (!field) throw invalidArgument(name, `is not a field of ${input.typeName}`);
  let value: unknown = text;
  const scalar = field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar");
  if (scalar && field.scalar === ScalarType.BOOL) {
    if (text !== "true" && text !== "false") throw invalidArgument(name, `must be true or false, not "${text}"`);
    value = text === "true";
  } else if (
    field.fieldKind === "message" ||
    field.fieldKind === "map" ||
    (field.fieldKind === "list" && (field.listKind === "message" || text.trimStart().startsWith("[")))
  ) {
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw invalidArgument(name, `must be JSON: ${(cause as Error).message}`, cause);
    }
  }
  // A repeated field's part may hold the whole list as JSON (`operations='[{...}, {...}]'`).
  if (field.fieldKind === "list" && Array.isArray(value)) for (const item of value) place(body, field, item);
  else place(body, field, value);
}

/** Sets a field of a JSON body, appending for a repeated one. */
function place(body: Record<string, unknown>, field: DescField, value: unknown) {
  if (field.fieldKind !== "list") body[field.jsonName] = value;
  else if (Array.isArray(body[field.jsonName])) (body[field.jsonName] as unknown[]).push(value);
  else body[field.jsonName] = [value];
}

/**
 * A form read as a REST call's input, as the JSON body it builds: a `json` part, text parts in
 * the fields they are named after, and each file part placed in its field as
 * `{"data": <base64>}`, or `{"blobId": ...}` when it is larger than `inlineBytes` and a store is
 * at hand.
 */
export async function formInput(
  req: Req,
  input: DescMessage,
  o: { inlineBytes: number; store?: BlobStore; tenant: string },
): Promise<{ body: Record<string, unknown>; bytes: number }> {
  const body: Record<string, unknown> = {};
  const files: [DescField, unknown][] = [];
  let bytes = 0;
  for await (const part of formParts(req)) {
    if (part.kind === "field") {
      bytes += part.value.length;
      if (part.name === "json") Object.assign(body, parseJsonPart(part.value));
      else textField(input, body, part);
      continue;
    }
    if (part.name === "json") {
      const { head, whole } = await readUpTo(part.stream, 1024 * 1024);
      if (!whole) throw invalidArgument("json", "is over the 1 MiB a form's JSON part may be");
      Object.assign(body, parseJsonPart(Buffer.concat(head).toString("utf8")));
      continue;
    }
    const field = fileField(input, part.name);
    if (!field) {
      const plain = plainFileField(input, part.name);
      if (plain) {
        const read = await readUpTo(part.stream, o.inlineBytes - bytes);
        if (!read.whole) {
          part.stream.resume();
          throw new ConnectError(
            `${part.name}: the form is over the ${o.inlineBytes}-byte limit`,
            Code.ResourceExhausted,
          );
        }
        bytes += read.size;
        place(body, plain, fileContent(plain, Buffer.concat(read.head)));
        continue;
      }
      part.stream.resume();
      throw invalidArgument(
        part.name,
        `is not a file field of ${input.typeName}; file parts are named after one (${fileFieldNames(input) || "it has none"})`,
      );
    }
    const left = o.inlineBytes - bytes;
    const read = await readUpTo(part.stream, left);
    let value: unknown;
    if (read.whole) {
      bytes += read.size;
      value = { data: Buffer.concat(read.head).toString("base64") };
    } else {
      if (!o.store)
        throw new ConnectError(
          `${part.name}: the form is over the ${o.inlineBytes}-byte limit; upload large files to /api/v1/blobs first`,
          Code.ResourceExhausted,
        );
      value = await storeRest(part.stream, read.head, {
        ...o,
        store: o.store,
        file: { filename: part.filename, contentType: part.mimeType },
        field: part.name,
      });
    }
    files.push([field, value]);
  }
  for (const [field, value] of files) place(body, field, value);
  return { body, bytes };
}

const fileFieldNames = (input: DescMessage) =>
  [...fileFields(input), ...plainFileFields(input)].map((f) => f.name).join(", ");

/** Top-level `bytes` and `string` fields: a file part named after one fills it with the file's content. */
function plainFileFields(input: DescMessage): DescField[] {
  return input.fields.filter(
    (f) => f.fieldKind === "scalar" && (f.scalar === ScalarType.BYTES || f.scalar === ScalarType.STRING),
  );
}

function plainFileField(input: DescMessage, name: string): DescField | undefined {
  return plainFileFields(input).find((f) => f.name === name || f.jsonName === name);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A file's content as the JSON of a plain field: base64 for `bytes`, the text for a `string` (UTF-8 or refused). */
function fileContent(field: DescField, content: Buffer): string {
  if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES) return content.toString("base64");
  try {
    return utf8.decode(content);
  } catch (cause) {
    throw invalidArgument(field.name, "is text: the file is not valid UTF-8", cause);
  }
}

/**
 * A request body that is a file, as the JSON body it builds: the file in `field` (`{"data"}` or,
 * past `inlineBytes` with a store at hand, `{"blobId"}` for a file field; base64 for a bytes one).
 */
export async function rawFileInput(
  req: Req,
  field: DescField,
  o: { inlineBytes: number; store?: BlobStore; tenant: string },
): Promise<{ body: Record<string, unknown>; bytes: number }> {
  const read = await readUpTo(req as Readable, o.inlineBytes);
  const contentType = String(req.headers["content-type"] ?? "application/octet-stream");
  const body: Record<string, unknown> = {};
  if (read.whole) {
    const content = Buffer.concat(read.head);
    body[field.jsonName] = field.message ? { data: content.toString("base64") } : fileContent(field, content);
    return { body, bytes: read.size };
  }
  if (!field.message || !o.store)
    throw new ConnectError(`body: over the ${o.inlineBytes}-byte limit of a request`, Code.ResourceExhausted);
  body[field.jsonName] = await storeRest(req as Readable, read.head, {
    ...o,
    store: o.store,
    file: { filename: "", contentType },
    field: field.name,
  });
  return { body, bytes: read.size };
}

/**
 * A file too large to travel inline, put in the blob store as it arrives: the part already read
 * (`head`), then the rest of `stream`. Answers the file field's JSON, `{"blobId"}`.
 */
async function storeRest(
  stream: Readable,
  head: Buffer[],
  o: { store: BlobStore; tenant: string; file: { filename: string; contentType: string }; field: string },
): Promise<{ blobId: string }> {
  async function* rest() {
    yield* head;
    for await (const chunk of stream) yield chunk as Buffer;
  }
  const stored = await o.store.put(o.tenant, rest(), o.file, o.field);
  return { blobId: stored.id };
}

function parseJsonPart(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw invalidArgument("json", `is not valid JSON: ${(cause as Error).message}`, cause);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw invalidArgument("json", "must be a JSON object");
  return parsed as Record<string, unknown>;
}

/**
 * Whether the caller prefers a file to JSON: a file type (`application/pdf`, `image/...`,
 * `application/octet-stream`) with a higher quality than JSON gets (`application/json`,
 * `application/*` or `*\/*`). Browsers and workflow tools list `image/*` below JSON in their
 * defaults (n8n: `application/json,...,image/*;q=0.8,*\/*;q=0.7`): they get JSON.
 */
export function wantsFile(accept: string | undefined): boolean {
  let json = 0;
  let file = 0;
  for (const entry of (accept ?? "").split(",")) {
    const [type, ...params] = entry.split(";").map((p) => p.trim().toLowerCase());
    const q = Number(params.find((p) => p.startsWith("q="))?.slice(2) ?? 1);
    if (!Number.isFinite(q)) continue;
    if (type === "application/json" || type === "application/*" || type === "*/*") json = Math.max(json, q);
    else if (type === "application/pdf" || type.startsWith("image/") || type === "application/octet-stream")
      file = Math.max(file, q);
  }
  return file > json;
}

/** A file an answer holds: its bytes or blob id, and what it is. */
export interface AnswerFile {
  data?: Uint8Array;
  blobId?: string;
  contentType: string;
}

/** The files an answer holds (file messages in its fields, down to `answerFileDepth`), in field order. */
export function filesOf(schema: DescMessage, message: Record<string, unknown>, depth = 0): AnswerFile[] {
  const found: AnswerFile[] = [];
  for (const field of schema.fields) {
    if (field.fieldKind !== "message" && field.fieldKind !== "list") continue;
    const type = field.message;
    if (!type) continue;
    const value = message[field.localName];
    const items = (field.fieldKind === "list" ? (value as unknown[]) : value ? [value] : []) as Record<
      string,
      unknown
    >[];
    for (const item of items) {
      if (isFileMessage(type)) {
        const source = item.source as { case?: string; value?: unknown };
        const contentType = typeof item.contentType === "string" ? item.contentType : "";
        if (source.case === "data") found.push({ data: source.value as Uint8Array, contentType });
        else if (source.case === "blobId") found.push({ blobId: source.value as string, contentType });
      } else if (depth < answerFileDepth) found.push(...filesOf(type, item, depth + 1));
    }
  }
  return found;
}

/** A media type from a file's first bytes, for answers that do not say. */
export function sniffType(head: Uint8Array): string {
  const b = Buffer.from(head.subarray(0, 16));
  if (b.subarray(0, 5).toString("latin1") === "%PDF-") return "application/pdf";
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "image/png";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP")
    return "image/webp";
  if (b.subarray(0, 4).toString("latin1") === "II*\0" || b.subarray(0, 4).toString("latin1") === "MM\0*")
    return "image/tiff";
  if (/^GIF8[79]a/.test(b.subarray(0, 6).toString("latin1"))) return "image/gif";
  if (/^ftypavi[fs]$/.test(b.subarray(4, 12).toString("latin1"))) return "image/avif";
  return "application/octet-stream";
}

/** Writes a file answer's head: type, disposition, length when known, and the checksum when known. */
export function writeFileHead(
  res: Res,
  o: { contentType: string; filename: string; size?: number; sha256?: string; requestId: string },
) {
  const ext = fileExtensions[o.contentType] ?? "bin";
  const headers: Record<string, string> = {
    "content-type": o.contentType,
    "content-disposition": contentDisposition(o.filename, `file.${ext}`),
    "x-request-id": o.requestId,
    "x-content-type-options": "nosniff",
  };
  if (o.size !== undefined) headers["content-length"] = String(o.size);
  if (o.sha256) {
    headers.etag = `"${o.sha256}"`;
    headers["repr-digest"] = `sha-256=:${Buffer.from(o.sha256, "hex").toString("base64")}:`;
  }
  (res as http.ServerResponse).writeHead(200, headers);
}
