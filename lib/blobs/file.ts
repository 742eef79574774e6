/**
 * Blobs as files: `<root>/<tenant>/<id>.bin` and its description `<id>.json` (the tenant folder
 * named by a hash of the tenant id). A blob is written to a temporary file, hashed as it comes,
 * and renamed into place only when complete and within the cap: a failed or refused upload
 * leaves nothing behind. The description is written last, so a blob without one does not exist.
 * Every process of one machine shares the folder (npm start's mesh); scaled out, use JetStream.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import {
  type BlobInfo,
  type BlobLimits,
  type BlobMeta,
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

const tenantDir = (tenant: string) => createHash("sha256").update(`tenant:${tenant}`).digest("hex").slice(0, 32);

/** Chunks of `body`, whichever form it came in. */
async function* chunks(body: Uint8Array | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) yield body;
  else yield* body;
}

/** Opens the store under `root`. */
export function createFileBlobStore(root: string, limits: BlobLimits): BlobStore {
  const paths = (tenant: string, id: string) => {
    const dir = join(root, tenantDir(tenant));
    return { dir, data: join(dir, `${id}.bin`), meta: join(dir, `${id}.json`) };
  };

  async function stat(tenant: string, id: string): Promise<BlobInfo | undefined> {
    if (!isBlobId(id)) return undefined;
    let info: BlobInfo;
    try {
      info = JSON.parse(await readFile(paths(tenant, id).meta, "utf8"));
    } catch {
      return undefined;
    }
    return info.expiresAt > Date.now() ? info : undefined;
  }

  async function found(tenant: string, id: string): Promise<BlobInfo> {
    const info = await stat(tenant, id);
    if (!info) throw blobNotFound(id);
    return info;
  }

  const store: BlobStore = {
    limits,

    async put(tenant, body, meta: BlobMeta, field = "file") {
      const createdAt = Date.now();
      const expiresAt = expiryOf(meta, limits, field, createdAt);
      const id = newBlobId();
      const p = paths(tenant, id);
      await mkdir(p.dir, { recursive: true });
      const partial = `${p.data}.part`;
      const hash = createHash("sha256");
      let size = 0;
      const out = createWriteStream(partial);
      try {
        for await (const chunk of chunks(body)) {
          size += chunk.length;
          if (size > limits.maxBytes) throw tooLarge(field, limits);
          hash.update(chunk);
          if (!out.write(chunk)) await once(out, "drain");
        }
        out.end();
        await once(out, "finish");
        await rename(partial, p.data);
      } catch (err) {
        out.destroy();
        await rm(partial, { force: true });
        throw err;
      }
      const info: BlobInfo = {
        id,
        size,
        sha256: hash.digest("hex"),
        contentType: contentTypeOf(meta.contentType),
        filename: filenameOf(meta.filename),
        createdAt,
        expiresAt,
      };
      await writeFile(`${p.meta}.part`, JSON.stringify(info));
      await rename(`${p.meta}.part`, p.meta);
      return info;
    },

    stat,

    async open(tenant, id) {
      const info = await found(tenant, id);
      const file = paths(tenant, id).data;
      async function* body() {
        const hash = createHash("sha256");
        for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
          hash.update(chunk as Buffer);
          yield new Uint8Array(chunk as Buffer);
        }
        if (hash.digest("hex") !== info.sha256) throw blobCorrupt(id);
      }
      return { info, body: body() };
    },

    async read(tenant, id) {
      const info = await found(tenant, id);
      let data: Buffer;
      try {
        data = await readFile(paths(tenant, id).data);
      } catch {
        throw blobNotFound(id);
      }
      if (createHash("sha256").update(data).digest("hex") !== info.sha256) throw blobCorrupt(id);
      return { info, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    },

    async delete(tenant, id) {
      if (!(await stat(tenant, id))) return false;
      const p = paths(tenant, id);
      await rm(p.meta, { force: true }); // first: without its description the blob is gone
      await rm(p.data, { force: true });
      return true;
    },

    async sweep(now = Date.now()) {
      let removed = 0;
      let tenants: string[];
      try {
        tenants = await readdir(root);
      } catch {
        return 0;
      }
      for (const t of tenants) {
        for (const name of await readdir(join(root, t)).catch(() => [] as string[])) {
          if (!name.endsWith(".json")) continue;
          const meta = join(root, t, name);
          const info = JSON.parse(await readFile(meta, "utf8").catch(() => "{}")) as Partial<BlobInfo>;
          if ((info.expiresAt ?? 0) > now) continue;
          await rm(meta, { force: true });
          await rm(meta.replace(/\.json$/, ".bin"), { force: true });
          removed++;
        }
      }
      return removed;
    },

    async close() {},
  };
  return store;
}
