/**
 * `npm run bench:images`: issue 19's figures, side by side in one run.
 * - A 2725 × 2225 JPEG resized to 720 × 588 WebP, 2 in flight: directly over gRPC to an image
 *   process, through the gateway (Connect JSON with the image inline as base64, and blob in, blob
 *   out), against sharp in this process at the same concurrency; targets >= 0.9 direct, >= 0.8
 *   through the gateway. The services are loaded by h2load (a client in C, as `bench:rpc` does),
 *   each answer checked once beforehand with a real client; the paths are taken in turn for five
 *   rounds and each path's ratio is the median of its per-round ratios.
 * - A batch of thumbnails (256 × 256 WebP from 1200 × 900 JPEGs, by blob id) as one job through
 *   the gateway: images per second against sharp in this process on every core.
 * - The image process's RSS idle, and after the load.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import type { ChildProcess } from "node:child_process";
import sharp from "sharp";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Fit,
  ImageFormat,
  ImageService,
  ThumbnailRequestSchema,
  TransformRequestSchema,
} from "#gen/flowforge/image/v1/image_pb.js";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { connectClient } from "#test/support/clients.js";
import { pack } from "#test/support/jobs.js";
import { startMesh } from "#test/support/mesh.js";
import { until } from "#test/support/until.js";
import { scene } from "../services/image/test/helpers.js";
import { h2loadCount } from "./h2load.js";
import { startCapability } from "./capability.js";
import { size, smoke } from "./measure.js";

const calls = size("BENCH_IMAGE_CALLS", 240, 6);
const warm = size("BENCH_IMAGE_WARM", 20, 2);
const batchItems = size("BENCH_IMAGE_BATCH", 1000, 20);
const inFlight = 2;

// The capabilities measured (with the jobs service), not all eleven processes.
const mesh = await startMesh({ LOG_LEVEL: "warn", FLOWFORGE_CAPABILITIES: "image" });
const children: ChildProcess[] = [];
const dir = await mkdtemp(join(tmpdir(), "flowforge-bench-images-"));
const auth = { authorization: `Bearer ${mesh.adminKey}` };
const rssMib = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) / 1024;

/** Calls per second of `fn` run `n` times with `concurrency` at once. */
async function rate(fn: () => Promise<unknown>, n: number, concurrency = inFlight): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) await fn();
    }),
  );
  return (n / (performance.now() - start)) * 1000;
}

/** A path: measures its rate (calls per second) over `n` calls, `inFlight` at once. */
type Path = [name: string, measure: (n: number) => Promise<number>];

/**
 * The paths measured in turn, round after round (a shared machine drifts: measured one after the
 * other, whichever runs first gets the quieter minute), each warmed first. Answers each path's
 * best rate and the median over rounds of its rate against the first path's in the same round.
 */
async function sideBySide(
  paths: Path[],
  rounds = smoke ? 1 : 5,
): Promise<{ name: string; best: number; ratio: number }[]> {
  for (const [, measure] of paths) await measure(warm);
  const rates = paths.map((): number[] => []);
  for (let r = 0; r < rounds; r++)
    for (const [i, [, measure]] of paths.entries()) rates[i].push(await measure(Math.ceil(calls / rounds)));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return paths.map(([name], i) => ({
    name,
    best: Math.max(...rates[i]),
    ratio: median(rates[i].map((x, r) => x / rates[0][r])),
  }));
}

/**
 * The rate of `n` POSTs of a body file with h2load (HTTP/2, `inFlight` connections of one stream
 * each): a client in C, so the mesh's two cores are not shared with a Node client's work.
 */
async function loaded(url: string, bodyFile: string, headers: Record<string, string>, n: number): Promise<number> {
  const r = await h2loadCount({ url, bodyFile, headers, clients: inFlight, streams: 1, requests: n });
  if (r.failed > 0 || r.succeeded < n) throw new Error(`${url}: ${r.failed} of ${n} failed`);
  return r.reqPerSec;
}

try {
  const jpeg = await scene(2725, 2225);
  const { started, client: direct } = await startCapability("image", ImageService, mesh);
  children.push(started.child);
  const pid = started.child.pid!;
  const idleRss = rssMib(pid);
  const resize = { resize: { width: 720, height: 588, fit: Fit.COVER } };

  const check = async (data: Uint8Array | ArrayBuffer) => {
    const meta = await sharp(new Uint8Array(data)).metadata();
    if (meta.format !== "webp" || meta.width !== 720 || meta.height !== 588)
      throw new Error(`expected a 720 × 588 WebP, got ${meta.format} ${meta.width} × ${meta.height}`);
  };
  // A fresh copy each call, as a service receives its bytes (libvips caches by the buffer it is given).
  const local = () => sharp(Buffer.from(jpeg)).resize(720, 588, { fit: "cover" }).webp().toBuffer();
  const viaDirect = () =>
    direct.transform({
      image: { source: { case: "data", value: jpeg } },
      operations: [{ operation: { case: "resize", value: resize.resize } }],
      format: ImageFormat.WEBP,
    });
  // Request bodies are serialized once, as bytes; answers are read as bytes and parsed only when checked.
  const json = (value: unknown) => new Uint8Array(Buffer.from(JSON.stringify(value)));
  const inlineBody = json({
    image: { data: Buffer.from(jpeg).toString("base64") },
    operations: [resize],
    format: "IMAGE_FORMAT_WEBP",
  });
  const gateway = async (body: Uint8Array<ArrayBuffer>) => {
    const res = await fetch(`${mesh.url}/flowforge.image.v1.ImageService/Transform`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body,
    });
    if (res.status !== 200) throw new Error(`Transform: HTTP ${res.status} ${await res.text()}`);
    return res.arrayBuffer();
  };
  const answerOf = async (body: Uint8Array<ArrayBuffer>) =>
    JSON.parse(Buffer.from(await gateway(body)).toString()) as { image: { data?: string; blobId?: string } };
  const put = async (data: Uint8Array) => {
    const res = await fetch(`${mesh.url}/api/v1/blobs`, {
      method: "PUT",
      headers: { "content-type": "image/jpeg", ...auth },
      body: new Uint8Array(data),
    });
    return ((await res.json()) as { blob: { blobId: string } }).blob.blobId;
  };
  const source = await put(jpeg);
  const blobBody = json({
    image: { blobId: source },
    operations: [resize],
    format: "IMAGE_FORMAT_WEBP",
    store: true,
  });

  // Every path's answer checked once before it is timed.
  await check(await local());
  await check((await viaDirect()).image!.source.value as Uint8Array);
  await check(Buffer.from((await answerOf(inlineBody)).image.data!, "base64"));
  const stored = (await answerOf(blobBody)).image.blobId!;
  await check(await (await fetch(`${mesh.url}/api/v1/blobs/${stored}`, { headers: auth })).arrayBuffer());

  // The loads' bodies: the request framed for gRPC, and the two JSON bodies.
  const request = create(TransformRequestSchema, {
    image: { source: { case: "data", value: jpeg } },
    operations: [{ operation: { case: "resize", value: resize.resize } }],
    format: ImageFormat.WEBP,
  });
  const binary = toBinary(TransformRequestSchema, request);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(binary.length, 1);
  const files = { grpc: join(dir, "grpc.bin"), inline: join(dir, "inline.json"), blob: join(dir, "blob.json") };
  await writeFile(files.grpc, Buffer.concat([frame, binary]));
  await writeFile(files.inline, inlineBody);
  await writeFile(files.blob, blobBody);
  const transformPath = "flowforge.image.v1.ImageService/Transform";
  const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
  const jsonHeaders = { "content-type": "application/json", ...auth };
  const rows = await sideBySide([
    ["sharp in-process", (n) => rate(local, n)],
    ["direct gRPC", (n) => loaded(`http://127.0.0.1:${started.port}/${transformPath}`, files.grpc, grpcHeaders, n)],
    [
      "gateway, Connect JSON inline base64",
      (n) => loaded(`${mesh.url}/${transformPath}`, files.inline, jsonHeaders, n),
    ],
    ["gateway, blob in, blob out", (n) => loaded(`${mesh.url}/${transformPath}`, files.blob, jsonHeaders, n)],
  ]);
  const loadedRss = rssMib(pid);

  // ---- a batch of thumbnails as one job ---------------------------------------------------
  const photos = await Promise.all(Array.from({ length: 10 }, (_, i) => scene(1200, 900, i % 2)));
  const ids = await Promise.all(photos.map(put));
  const cores = availableParallelism();
  let next = 0;
  const localBatch = performance.now();
  await Promise.all(
    Array.from({ length: cores }, async () => {
      while (next < batchItems) {
        const photo = photos[next++ % photos.length];
        await sharp(photo).resize(256, 256, { fit: "cover" }).webp().toBuffer();
      }
    }),
  );
  const localRate = (batchItems / (performance.now() - localBatch)) * 1000;
  const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
  const items = Array.from({ length: batchItems }, (_, i) =>
    pack(ThumbnailRequestSchema, { image: { source: { case: "blobId", value: ids[i % ids.length] } } }),
  );
  const batchStart = performance.now();
  const { job } = await jobs.submitJob({ method: "flowforge.image.v1.ImageService/Thumbnail", items });
  const stateOf = async () => (await jobs.getJob({ jobId: job!.id, itemsPageSize: 1 })).job!.state;
  const ended = [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED];
  await until(
    async () => ended.includes(await stateOf()),
    600_000,
    async () => `job ${job!.id} is ${JobState[await stateOf()]}`,
  );
  const state = await stateOf();
  if (state !== JobState.SUCCEEDED) throw new Error(`the thumbnail batch ended ${JobState[state]}`);
  const batchRate = (batchItems / (performance.now() - batchStart)) * 1000;

  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  console.log(
    [
      "",
      line([
        `720 × 588 WebP from a 2725 × 2225 JPEG, ${inFlight} in flight`,
        "images/s (best round)",
        "of in-process (median of rounds)",
        "target",
      ]),
      line(["---", "---:", "---:", "---"]),
      ...rows.map(({ name, best, ratio }, i) =>
        line([name, best.toFixed(1), ratio.toFixed(2), i === 0 ? "" : i === 1 ? ">= 0.9" : ">= 0.8"]),
      ),
      "",
      line([`${batchItems} thumbnails (256 × 256 WebP from 1200 × 900 JPEGs)`, "images/s", "of in-process", ""]),
      line(["---", "---:", "---:", "---"]),
      line([`sharp in-process, ${cores} at once`, localRate.toFixed(1), "1.00", ""]),
      line([
        "one batch job through the gateway (blob ids)",
        batchRate.toFixed(1),
        (batchRate / localRate).toFixed(2),
        "",
      ]),
      "",
      `Image process RSS: ${idleRss.toFixed(0)} MiB idle, ${loadedRss.toFixed(0)} MiB after the resize runs.`,
      "",
    ].join("\n"),
  );
} finally {
  for (const c of children) c.kill("SIGTERM");
  await mesh.stop();
  await rm(dir, { recursive: true, force: true });
}
