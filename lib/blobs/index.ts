/**
 * The blob store: files larger than a message, uploaded once and referenced by id in any request
 * field that takes a document or image, and results too large to answer inline. Each blob
 * belongs to one tenant (another tenant's id is not found), expires, is bounded in size, and
 * carries a SHA-256 checked on every read. Embedded: files under FLOWFORGE_DATA_DIR (file.ts);
 * scaled out: a NATS JetStream Object Store bucket (jetstream.ts). Services read and write it
 * directly; the gateway serves uploads and downloads over plain HTTP.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { tenantKey } from "#runtime/context.js";
import { check, invalidArgument } from "#runtime/errors.js";

/** What is known of a blob. */
export interface BlobInfo {
  id: string;
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  contentType: string;
  filename: string;
  createdAt: number;
  expiresAt: number;
}

/** What an upload says of itself. */
export interface BlobMeta {
  contentType?: string;
  filename?: string;
  /** Seconds until it expires; bounded by the store's maximum. @default the store's default */
  ttlSeconds?: number;
}

/** Reads blobs. */
export interface BlobReader {
  /** The blob's bytes, checked against its checksum; not_found for a missing, expired or other tenant's id. */
  read(tenant: string, id: string): Promise<{ info: BlobInfo; data: Uint8Array }>;
}

/** The store. */
export interface BlobStore extends BlobReader {
  /** Stores bytes (a stream is read as it comes, refused past the size cap naming `field`). */
  put(tenant: string, body: Uint8Array | AsyncIterable<Uint8Array>, meta: BlobMeta, field?: string): Promise<BlobInfo>;
  /** What is known of a blob, or undefined when it is missing, expired or another tenant's. */
  stat(tenant: string, id: string): Promise<BlobInfo | undefined>;
  /** The blob's bytes as a stream; the checksum is checked at its end (data_loss when it differs). */
  open(tenant: string, id: string): Promise<{ info: BlobInfo; body: AsyncIterable<Uint8Array> }>;
  delete(tenant: string, id: string): Promise<boolean>;
  /** Removes expired blobs; answers how many. */
  sweep(now?: number): Promise<number>;
  close(): Promise<void>;
  readonly limits: BlobLimits;
}

/** Bounds every store keeps. */
export interface BlobLimits {
  /** Largest blob. */
  maxBytes: number;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  /** Results larger than this are answered as a blob, not inline. */
  inlineMaxBytes: number;
}

export const defaultBlobLimits: BlobLimits = {
  maxBytes: 512 * 1024 * 1024,
  defaultTtlSeconds: 24 * 3600,
  maxTtlSeconds: 7 * 24 * 3600,
  inlineMaxBytes: 8 * 1024 * 1024,
};

const idPattern = /^blob_[a-z2-7]{26}$/;
const base32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A new blob id: `blob_` and 128 random bits in base32. */
export function newBlobId(): string {
  const bytes = randomBytes(17);
  let out = "blob_";
  for (let i = 0; i < 26; i++) out += base32[bytes[i % 17] % 32];
  return out;
}

/** Whether `id` has the form of a blob id (anything else is refused before a store is asked). */
export const isBlobId = (id: string) => idPattern.test(id);

/** Not found, in the same words for a missing, expired and another tenant's blob. */
export const blobNotFound = (id: string) =>
  new ConnectError(`blob ${id} was not found (it may have expired)`, Code.NotFound);

/** The checksum did not match: the stored bytes are not what was uploaded. */
export const blobCorrupt = (id: string) =>
  new ConnectError(`blob ${id} is damaged: its bytes no longer match their checksum`, Code.DataLoss);

/** The expiry of a blob stored now with these settings. */
export function expiryOf(meta: BlobMeta, limits: BlobLimits, field: string, now = Date.now()): number {
  const ttl = meta.ttlSeconds || limits.defaultTtlSeconds;
  check(
    Number.isInteger(ttl) && ttl > 0 && ttl <= limits.maxTtlSeconds,
    `${field}.ttl_seconds`,
    `must be from 1 to ${limits.maxTtlSeconds} seconds`,
  );
  return now + ttl * 1000;
}

/** The refusal of a blob past the size cap. */
export const tooLarge = (field: string, limits: BlobLimits) =>
  invalidArgument(field, `is larger than the ${limits.maxBytes} bytes a file may be`);

/** A media type as stored: what was said, when it looks like one, else application/octet-stream. */
export function contentTypeOf(type: string | undefined): string {
  const t = (type ?? "").split(";")[0].trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(t) ? t : "application/octet-stream";
}

/** A file name as stored: its last path segment, control characters out, at most 255 characters. */
export function filenameOf(name: string | undefined): string {
  return (
    (name ?? "")
      .split(/[\\/]/)
      .pop()!
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
      .replace(/[\u0000-\u001f\u007f"]/g, "")
      .slice(0, 255)
  );
}

/** A `oneof source { bytes data; string blob_id }` as generated. */
export type FileSource =
  | { case: "data"; value: Uint8Array }
  | { case: "blobId"; value: string }
  | { case: undefined; value?: undefined };

/**
 * The bytes a request's file field holds: its inline data, or the caller's tenant's blob. Refuses
 * a field with neither, naming it (`image.data`), and a blob the caller cannot read.
 */
export async function fileBytes(
  source: FileSource | undefined,
  field: string,
  ctx: HandlerContext,
  blobs: BlobReader | undefined,
): Promise<Uint8Array> {
  if (source?.case === "blobId") {
    check(isBlobId(source.value), `${field}.blob_id`, "is not a blob id (blob_ followed by 26 letters and digits)");
    if (!blobs)
      throw new ConnectError(`${field}.blob_id: this service has no blob store configured`, Code.FailedPrecondition);
    return (await blobs.read(ctx.values.get(tenantKey), source.value)).data;
  }
  const data = source?.case === "data" ? source.value : undefined;
  check(data !== undefined && data.length > 0, `${field}.data`, "is required: the file's bytes (or blob_id)");
  return data;
}

/**
 * A result file as an answer carries it: inline, or, past the store's inline bound (or always,
 * with `stored`), kept for the caller's tenant and answered by id (GET /api/v1/blobs/{id}).
 */
export async function fileOut(
  data: Uint8Array,
  meta: { contentType: string; filename: string },
  ctx: HandlerContext,
  blobs: BlobStore | undefined,
  stored = false,
): Promise<FileSource> {
  if (!blobs || (!stored && data.length <= blobs.limits.inlineMaxBytes)) return { case: "data", value: data };
  const info = await blobs.put(ctx.values.get(tenantKey), data, meta, "result");
  return { case: "blobId", value: info.id };
}
