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

/**
 * A service built on the configured store, for a capability: its implementation, and a stop that
 * closes the service first and the store after it (the store too if building the service fails).
 */
export async function withBlobStore<I>(
  config: BlobConfig,
  build: (blobs: BlobStore) => { impl: I; close(): Promise<void> },
): Promise<{ impl: I; stop(): Promise<void> }> {
  const blobs = await openBlobStore(config);
  try {
    const { impl, close } = build(blobs);
    return {
      impl,
      async stop() {
        try {
          await close();
        } finally {
          await blobs.close();
        }
      },
    };
  } catch (err) {
    await blobs.close();
    throw err;
  }
}

/** Sweeps expired blobs every `everyMs` until stopped; failures are reported, not thrown. */
export function sweepEvery(store: BlobStore, everyMs: number, onError: (err: unknown) => void): () => void {
  const timer = setInterval(() => store.sweep().catch(onError), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
