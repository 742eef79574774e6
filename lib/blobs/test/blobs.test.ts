/**
 * Both blob stores, the same checks: files under a temporary folder, and a JetStream Object Store
 * bucket on the real NATS server (a bucket of its own per run).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { createFileBlobStore } from "../file.js";
import { type BlobLimits, type BlobStore, defaultBlobLimits, newBlobId } from "../index.js";
import { createJetStreamBlobStore } from "../jetstream.js";

const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const limits: BlobLimits = { ...defaultBlobLimits, maxBytes: 4 * 1024 * 1024, defaultTtlSeconds: 3600 };
const dir = await mkdtemp(join(tmpdir(), "flowforge-blobs-"));
const bucket = `flowforge-blobs-test-${process.pid}-${Date.now()}`;
const stores: [string, BlobStore][] = [
  ["files", createFileBlobStore(dir, limits)],
  ["JetStream Object Store", await createJetStreamBlobStore(natsUrl, limits, bucket)],
];
afterAll(async () => {
  for (const [, s] of stores) await s.close();
  await rm(dir, { recursive: true, force: true });
  const nc = await connect({ servers: natsUrl });
  await (await new Objm(nc).open(bucket)).destroy().catch(() => {});
  await nc.close();
});

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  return "no error";
};

async function* chunked(data: Uint8Array, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe.each(stores)("the blob store on %s", (_, store) => {
  it("keeps a streamed file whole, with its size, checksum, type and name, for its tenant only", async () => {
    const data = randomBytes(1_500_000);
    const info = await store.put("acme", chunked(data, 64 * 1024), {
      contentType: "application/pdf; charset=x",
      filename: "../dir/report.pdf",
    });
    expect(info).toMatchObject({
      size: data.length,
      sha256: createHash("sha256").update(data).digest("hex"),
      contentType: "application/pdf",
      filename: "report.pdf",
    });
    expect(info.expiresAt - info.createdAt).toBe(3600 * 1000);
    expect(Buffer.from((await store.read("acme", info.id)).data).equals(data)).toBe(true);
    const { body } = await store.open("acme", info.id);
    const parts: Uint8Array[] = [];
    for await (const chunk of body) parts.push(chunk);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    // Another tenant: the same answer as an id that never existed.
    expect(await store.stat("globex", info.id)).toBeUndefined();
    expect(await code(store.read("globex", info.id))).toBe(Code.NotFound);
    expect(await code(store.read("acme", newBlobId()))).toBe(Code.NotFound);
    expect(await store.delete("acme", info.id)).toBe(true);
    expect(await code(store.read("acme", info.id))).toBe(Code.NotFound);
  });

  it("refuses a file past the size cap without keeping any of it, and a TTL past the maximum", async () => {
    const tooBig = chunked(randomBytes(limits.maxBytes + 1), 256 * 1024);
    const err = await store.put("acme", tooBig, {}, "file").catch((e) => ConnectError.from(e));
    expect(err).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(/^file: is larger than/),
    });
    expect(await code(store.put("acme", new Uint8Array([1]), { ttlSeconds: limits.maxTtlSeconds + 1 }))).toBe(
      Code.InvalidArgument,
    );
  });

  it("forgets expired files, on read at once and from storage on sweep", async () => {
    const info = await store.put("acme", new Uint8Array([1, 2, 3]), { ttlSeconds: 1 });
    expect(await store.stat("acme", info.id)).toBeDefined();
    expect(await store.sweep(Date.now())).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await code(store.read("acme", info.id))).toBe(Code.NotFound);
    expect(await store.sweep()).toBeGreaterThanOrEqual(1);
  });
});

describe("the file store", () => {
  const [, store] = stores[0];

  it("answers data_loss for a file whose bytes changed on disk", async () => {
    const info = await store.put("acme", randomBytes(1000), {});
    let file = "";
    for (const d of await readdir(dir))
      if ((await readdir(join(dir, d))).includes(`${info.id}.bin`)) file = join(dir, d, `${info.id}.bin`);
    const bytes = await readFile(file);
    bytes[500] ^= 0xff;
    await writeFile(file, bytes);
    expect(await code(store.read("acme", info.id))).toBe(Code.DataLoss);
  });

  it("leaves no partial file behind a refused upload", async () => {
    await store.put("partial", chunked(randomBytes(limits.maxBytes + 10), 1 << 20), {}).catch(() => {});
    const folders = await readdir(dir);
    const leftovers = (await Promise.all(folders.map((d) => readdir(join(dir, d)))))
      .flat()
      .filter((f) => f.endsWith(".part"));
    expect(leftovers).toEqual([]);
  });
});
