/**
 * BlobService, served by the gateway itself over the blob store (lib/blobs) for the caller's
 * tenant: Upload and Download stream, so a file never has to fit one message. The plain-HTTP
 * forms (`POST /api/v1/blobs`, `GET /api/v1/blobs/{id}`) are the REST transport's reading of the
 * same two methods (transports/rest/files.ts).
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Blob, BlobService, UploadRequest } from "#gen/flowforge/blob/v1/blob_pb.js";
import { type BlobInfo, type BlobStore, blobNotFound, isBlobId } from "#blobs/index.js";
import { tenantKey } from "#runtime/context.js";
import { check } from "#runtime/errors.js";

/** The message describing a stored file. */
export function blobMessage(info: BlobInfo): Blob {
  return {
    $typeName: "flowforge.blob.v1.Blob",
    blobId: info.id,
    size: BigInt(info.size),
    sha256: info.sha256,
    contentType: info.contentType,
    filename: info.filename,
    createTime: timestampFromMs(info.createdAt),
    expireTime: timestampFromMs(info.expiresAt),
    downloadPath: `/api/v1/blobs/${info.id}`,
  };
}

const tenantOf = (ctx: HandlerContext) => ctx.values.get(tenantKey);

function checkId(id: string) {
  check(id !== "", "blob_id", "is required");
  if (!isBlobId(id)) throw blobNotFound(id);
}

/** The bytes of an Upload stream after its first (describing) message; refuses a second description. */
async function* chunksOf(rest: AsyncIterator<UploadRequest>): AsyncIterable<Uint8Array> {
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const part = next.value.part;
    if (part.case === "info") throw new ConnectError("info: is sent once, in the first message", Code.InvalidArgument);
    if (part.case === "chunk") yield part.value;
  }
}

/** Creates the service over `store`. */
export function createBlobService(store: BlobStore): ServiceImpl<typeof BlobService> {
  return {
    async upload(requests, ctx) {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      const part = first.done ? undefined : first.value.part;
      const info = part?.case === "info" ? part.value : undefined;
      // A stream that starts with bytes is a file without a description.
      async function* all(): AsyncIterable<Uint8Array> {
        if (part?.case === "chunk") yield part.value;
        yield* chunksOf(it);
      }
      const stored = await store.put(
        tenantOf(ctx),
        all(),
        { filename: info?.filename, contentType: info?.contentType, ttlSeconds: info?.ttlSeconds },
        "chunk",
      );
      return { blob: blobMessage(stored) };
    },

    async *download(req, ctx) {
      checkId(req.blobId);
      const { info, body } = await store.open(tenantOf(ctx), req.blobId);
      yield { part: { case: "blob", value: blobMessage(info) } };
      for await (const chunk of body) yield { part: { case: "chunk", value: chunk } };
    },

    async getBlob(req, ctx) {
      checkId(req.blobId);
      const info = await store.stat(tenantOf(ctx), req.blobId);
      if (!info) throw blobNotFound(req.blobId);
      return { blob: blobMessage(info) };
    },

    async deleteBlob(req, ctx) {
      checkId(req.blobId);
      if (!(await store.delete(tenantOf(ctx), req.blobId))) throw blobNotFound(req.blobId);
      return {};
    },
  };
}
