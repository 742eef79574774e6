/** Opens the blob store the configuration names (lib/config blobConfig). */
import { resolve } from "node:path";
import type { BlobConfig } from "#config/index.js";
import type { BlobStore } from "./index.js";

/** The configured store: JetStream's Object Store, or files under the data directory. */
export async function openBlobStore(config: BlobConfig): Promise<BlobStore> {
  if (config.kind === "nats") {
    if (!config.natsUrl) throw new Error("BLOB_STORE=nats needs NATS_URL");
    const { createJetStreamBlobStore } = await import("./jetstream.js");
    return createJetStreamBlobStore(config.natsUrl, config.limits);
  }
  const { createFileBlobStore } = await import("./file.js");
  return createFileBlobStore(resolve(config.dir), config.limits);
}

/** Sweeps expired blobs every `everyMs` until stopped; failures are reported, not thrown. */
export function sweepEvery(store: BlobStore, everyMs: number, onError: (err: unknown) => void): () => void {
  const timer = setInterval(() => store.sweep().catch(onError), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
