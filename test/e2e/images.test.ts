/**
 * ImageService as `npm start` runs it: the acceptance shapes of issue 19 through the gateway
 * (Connect JSON, REST with a form and the file answered), gRPC and gRPC-Web on the gateway's
 * port, gRPC directly to the image process, files by blob id both ways, a batch of thumbnails as
 * one job with progress, and bad input named in each protocol's error.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  ImageFormat,
  ImageService,
  ThumbnailRequestSchema,
  ThumbnailResponseSchema,
} from "#gen/flowforge/image/v1/image_pb.js";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { connectClient, postJson, errorOf, grpcJsUnary, grpcWebClient } from "#test/support/clients.js";
import { pack, watchAll } from "#test/support/jobs.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";
import { manyFrameGif, scene } from "../../services/image/test/helpers.js";

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
}, 120_000);
afterAll(() => mesh?.stop());

const auth = () => ({ authorization: `Bearer ${mesh.adminKey}` });
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const post = (path: string, body: object) => postJson(mesh, path, body);

describe("ImageService through the gateway", () => {
  it("Transform and GetMetadata answer the acceptance shapes in Connect JSON", async () => {
    const jpeg = await scene(2725, 2225);
    const res = await post("/flowforge.image.v1.ImageService/Transform", {
      image: { data: b64(jpeg) },
      operations: [{ resize: { width: 720, height: 588, fit: "FIT_COVER" } }],
      format: "IMAGE_FORMAT_WEBP",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ width: 720, height: 588, format: "IMAGE_FORMAT_WEBP" });
    const webp = Buffer.from(res.body.image.data, "base64");
    expect(await sharp(webp).metadata()).toMatchObject({ format: "webp", width: 720, height: 588 });
    const meta = await post("/flowforge.image.v1.ImageService/GetMetadata", { image: { data: b64(jpeg) } });
    expect(meta.body).toMatchObject({ width: 2725, height: 2225, format: "IMAGE_FORMAT_JPEG" });
  });

  it("REST takes a form (file, JSON operations, format) and answers the WebP file itself", async () => {
    const form = new FormData();
    form.append("image", new Blob([new Uint8Array(await scene(1200, 900))], { type: "image/jpeg" }), "photo.jpg");
    form.append("operations", JSON.stringify([{ resize: { width: 720 } }, { grayscale: {} }]));
    form.append("format", "webp");
    const res = await fetch(`${mesh.url}/api/v1/image/transform`, {
      method: "POST",
      headers: { ...auth(), accept: "image/webp" },
      body: form,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/webp");
    expect(res.headers.get("content-disposition")).toMatch(/filename="transform\.webp"/);
    const file = Buffer.from(await res.arrayBuffer());
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["webp", 720, 540]);
    const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect(data[0] === data[1] && data[1] === data[2]).toBe(true); // grey, in the order given
  });

  it("reads a source by blob id and keeps the answer as a blob when asked", async () => {
    const put = await fetch(`${mesh.url}/api/v1/blobs`, {
      method: "PUT",
      headers: { ...auth(), "content-type": "image/jpeg" },
      body: new Uint8Array(await scene(800, 600)),
    });
    expect(put.status).toBe(201);
    const { blob } = await put.json();
    const res = await post("/api/v1/image/thumbnail", { image: { blobId: blob.blobId }, width: 100, store: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ width: 100, height: 75, image: { blobId: expect.stringMatching(/^blob_/) } });
    const got = await fetch(`${mesh.url}/api/v1/blobs/${res.body.image.blobId}`, { headers: auth() });
    expect(got.headers.get("content-type")).toBe("image/webp");
    expect((await sharp(Buffer.from(await got.arrayBuffer())).metadata()).width).toBe(100);
  });

  it("serves gRPC and gRPC-Web on the gateway's port, and gRPC directly from the image process", async () => {
    const gif = manyFrameGif(3);
    const request = { image: { source: { case: "data" as const, value: gif } } };
    const viaGateway = await grpcJsUnary(`127.0.0.1:${mesh.port}`, ImageService.method.getMetadata, request, auth());
    expect([viaGateway.format, viaGateway.pages]).toEqual([ImageFormat.GIF, 3]);
    const web = await grpcWebClient(ImageService, mesh.url, mesh.adminKey).getMetadata(request);
    expect([web.format, web.pages]).toEqual([ImageFormat.GIF, 3]);
    const address = /"image":"([\d.]+:\d+)"/.exec(mesh.output())?.[1];
    expect(address).toBeDefined();
    const direct = await grpcJsUnary(address!, ImageService.method.getMetadata, request);
    expect([direct.format, direct.pages]).toEqual([ImageFormat.GIF, 3]);
  });

  it("thumbnails a batch of images as one job, with progress item by item", async () => {
    const images = await Promise.all(Array.from({ length: 6 }, (_, i) => scene(640 + i * 10, 480, i % 2)));
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const { job } = await jobs.submitJob({
      method: "flowforge.image.v1.ImageService/Thumbnail",
      items: images.map((image) =>
        pack(ThumbnailRequestSchema, { image: { source: { case: "data", value: image } }, width: 64, height: 64 }),
      ),
    });
    const events = await watchAll(jobs, job!.id);
    const finished = events.flatMap((e) => (e.event.case === "itemFinished" ? [e.event.value.item!] : []));
    expect(finished.map((i) => i.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const item of finished) {
      const thumb = anyUnpack(item.result!, ThumbnailResponseSchema)!;
      expect([thumb.width, thumb.height, thumb.format]).toEqual([64, 64, ImageFormat.WEBP]);
    }
    expect(events.at(-1)!.event).toMatchObject({ case: "stateChanged", value: { state: JobState.SUCCEEDED } });
  });

  it("bad input is named in REST's envelope and in Connect's error, and the next call is answered", async () => {
    const jpeg = b64(await scene(64, 48));
    const quality = await post("/api/v1/image/transform", { image: { data: jpeg }, quality: 500 });
    expect(quality.status).toBe(400);
    expect(quality.body.error.details).toEqual([{ field: "quality", message: "must be from 1 to 100, not 500" }]);
    const unknown = await post("/api/v1/image/transform", { image: { data: jpeg }, format: "bmp" });
    expect([unknown.status, unknown.body.error.details[0].field]).toEqual([400, "format"]);
    const frames = await post("/api/v1/image/metadata", { image: { data: b64(manyFrameGif(10_000)) } });
    expect([frames.status, frames.body.error.details[0].field]).toEqual([400, "image.data"]);
    const client = connectClient(ImageService, mesh.url, mesh.adminKey);
    const err = await errorOf(
      client.transform({
        image: { source: { case: "data", value: await scene(64, 48) } },
        operations: [{ operation: { case: "crop", value: { left: 60, top: 0, width: 10, height: 10 } } }],
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("operations[0].crop");
    const ok = await post("/api/v1/image/thumbnail", { image: { data: jpeg }, width: 16 });
    expect([ok.status, ok.body.width]).toEqual([200, 16]);
  });
});
