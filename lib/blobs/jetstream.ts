/**
 * Blobs in a NATS JetStream Object Store bucket (`flowforge-blobs`), for a mesh scaled out over
 * machines: every replica of every service reads the same bucket. An object is named
 * `<tenant hash>/<id>`; its description (type, name, expiry, our SHA-256) rides in the object's
 * metadata. The bucket's own TTL (the longest a blob may live) is the backstop; shorter
 * expiries are kept by checking on read and by sweep. The client checks the object's digest as
 * it reads; we check our SHA-256 as well, so both stores answer a damaged blob the same way.
 */
import { createHash } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectInfo, type ObjectStore, StorageType } from "@nats-io/obj";
import {
  type BlobInfo,
  type BlobLimits,
  type BlobStore,
  blobCorrupt,
  blobNotFound,
  contentTypeOf,
  expiryOf,
  filenameOf,
  isBlobId,
  newBlobId,
  tooLarge,
} from "./index.js";

const tenantPrefix = (tenant: string) => createHash("sha256").update(`tenant:${tenant}`).digest("hex").slice(0, 32);

function infoOf(o: ObjectInfo): BlobInfo | undefined {
  const m = o.metadata ?? {};
  if (o.deleted || !m.sha256) return undefined;
  return {
    id: o.name.split("/")[1],
    size: o.size,
    sha256: m.sha256,
    contentType: m.contentType ?? "application/octet-stream",
    filename: m.filename ?? "",
    createdAt: Number(m.createdAt),
    expiresAt: Number(m.expiresAt),
  };
}

/** Connects to NATS and opens (or creates) the bucket. */
export async function createJetStreamBlobStore(
  url: string,
  limits: BlobLimits,
  bucket = "flowforge-blobs",
): Promise<BlobStore> {
  const nc: NatsConnection = await connect({ servers: url, name: "flowforge-blobs" });
  let os: ObjectStore;
  try {
    os = await new Objm(nc).create(bucket, {
      storage: StorageType.File,
      ttl: limits.maxTtlSeconds * 1e9,
      description: "FlowForge files: uploads and large results",
    });
  } catch (err) {
    await nc.close();
    throw err;
  }

  async function stat(tenant: string, id: string): Promise<BlobInfo | undefined> {
    if (!isBlobId(id)) return undefined;
    const o = await os.info(`${tenantPrefix(tenant)}/${id}`);
    const info = o ? infoOf(o) : undefined;
    return info && info.expiresAt > Date.now() ? info : undefined;
  }

  async function fetch(tenant: string, id: string) {
    const info = await stat(tenant, id);
    const got = info && (await os.get(`${tenantPrefix(tenant)}/${id}`));
    if (!info || !got) throw blobNotFound(id);
    return { info, got };
  }

  return {
    limits,

    async put(tenant, body, meta, field = "file") {
      const createdAt = Date.now();
      const expiresAt = expiryOf(meta, limits, field, createdAt);
      const id = newBlobId();
      const hash = createHash("sha256");
      let size = 0;
      let refused: Error | undefined;
      const source = body instanceof Uint8Array ? [body] : body;
      const iterator =
        (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]?.() ?? (source as Uint8Array[])[Symbol.iterator]();
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await iterator.next();
          if (next.done) return controller.close();
          size += next.value.length;
          if (size > limits.maxBytes) {
            refused = tooLarge(field, limits);
            return controller.error(refused);
          }
          hash.update(next.value);
          controller.enqueue(next.value);
        },
      });
      const name = `${tenantPrefix(tenant)}/${id}`;
      const info = {
        contentType: contentTypeOf(meta.contentType),
        filename: filenameOf(meta.filename),
        createdAt,
        expiresAt,
      };
      try {
        await os.put({ name, metadata: { expiresAt: String(expiresAt) } }, stream);
      } catch (err) {
        await os.delete(name).catch(() => {});
        throw refused ?? err;
      }
      const sha256 = hash.digest("hex");
      await os.update(name, {
        name,
        metadata: {
          sha256,
          contentType: info.contentType,
          filename: info.filename,
          createdAt: String(info.createdAt),
          expiresAt: String(expiresAt),
        },
      });
      return { id, size, sha256, ...info };
    },

    stat,

    async open(tenant, id) {
      const { info, got } = await fetch(tenant, id);
      async function* body() {
        const h = createHash("sha256");
        for await (const chunk of got.data) {
          h.update(chunk);
          yield chunk;
        }
        if ((await got.error) || h.digest("hex") !== info.sha256) throw blobCorrupt(id);
      }
      return { info, body: body() };
    },

    async read(tenant, id) {
      const { info, got } = await fetch(tenant, id);
      const parts: Uint8Array[] = [];
      for await (const chunk of got.data) parts.push(chunk);
      const data = Buffer.concat(parts);
      if ((await got.error) || createHash("sha256").update(data).digest("hex") !== info.sha256) throw blobCorrupt(id);
      return { info, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    },

    async delete(tenant, id) {
      if (!(await stat(tenant, id))) return false;
      await os.delete(`${tenantPrefix(tenant)}/${id}`);
      return true;
    },

    async sweep(now = Date.now()) {
      let removed = 0;
      for (const o of await os.list()) {
        const expiresAt = Number(o.metadata?.expiresAt ?? 0);
        if (o.deleted || expiresAt > now) continue;
        await os.delete(o.name).catch(() => {});
        removed++;
      }
      return removed;
    },

    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}
