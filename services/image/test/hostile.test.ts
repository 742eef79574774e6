/**
 * Bad and hostile input: each refused with invalid_argument naming the field (or
 * deadline_exceeded for the time limit), from the header where it can be, and the service keeps
 * answering other callers while heavy work runs.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { create } from "@bufbuild/protobuf";
import { Code, createContextValues, type HandlerContext } from "@connectrpc/connect";
import {
  ImageFormat,
  type Operation,
  OperationSchema,
  ThumbnailRequestSchema,
  TransformRequestSchema,
} from "#gen/flowforge/image/v1/image_pb.js";
import { createImageService } from "../service.js";
import { failure } from "#test/support/in-process.js";
import { until } from "#test/support/until.js";
import { defaultImageLimits } from "../config.js";
import { animatedGif, bombPng, bytesOf, op, imageClient, inline, manyFrameGif, scene, solid } from "./helpers.js";

const { client, close } = imageClient();
afterAll(() => close());

/** A handler context for calling the implementation directly, as a unary call or a job item. */
const context = (protocolName: string) =>
  ({ protocolName, signal: new AbortController().signal, values: createContextValues() }) as HandlerContext;

const refusal = async (call: Promise<unknown>) => {
  const f = await failure(call);
  return { code: f.code, fields: f.fields, message: f.message };
};

describe("bad input is refused naming the field", () => {
  it("what is not an image, or is truncated", async () => {
    const text = new TextEncoder().encode("hello, not an image");
    expect(await refusal(client.transform({ image: inline(text) }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["image.data"],
      message: expect.stringMatching(/is not an image/),
    });
    expect((await refusal(client.transform({}))).fields).toEqual(["image.data"]);
    for (const format of ["jpeg", "png"] as const) {
      const whole = await sharp(await scene(400, 300, 0, "png"))
        [format]()
        .toBuffer();
      const cut = whole.subarray(0, Math.floor(whole.length * 0.6));
      const r = await refusal(client.transform({ image: inline(cut), operations: [op("resize", { width: 100 })] }));
      expect(r).toMatchObject({ code: Code.InvalidArgument, fields: ["image.data"] });
    }
    expect((await refusal(client.getMetadata({ image: inline(text) }))).fields).toEqual(["image.data"]);
  });

  it("pixel bombs, from the header: a claimed 50,000 × 50,000 and a tiny file that inflates to gigapixels", async () => {
    const claimed = bombPng(50_000, 50_000);
    const inflating = bombPng(30_000, 30_000, { rows: 30_000, bitDepth: 1 }); // 900 megapixels in about 100 KB
    expect(inflating.length).toBeLessThan(200_000);
    for (const bomb of [claimed, inflating])
      for (const call of [
        () => client.transform({ image: inline(bomb), operations: [op("resize", { width: 10 })] }),
        () => client.getPlaceholder({ image: inline(bomb) }),
        () => client.perceptualHash({ image: inline(bomb) }),
        () => client.getMetadata({ image: inline(bomb), statistics: true }),
      ])
        expect(await refusal(call())).toMatchObject({
          code: Code.InvalidArgument,
          fields: ["image.data"],
          message: expect.stringMatching(/megapixels/),
        });
    // the same bound holds for a layer
    const layer = { content: { case: "image", value: inline(claimed) } };
    const r = await refusal(
      client.transform({
        image: inline(await solid(10, 10, "#fff")),
        operations: [op("composite", { layers: [layer] })],
      }),
    );
    expect(r.fields).toEqual(["operations[0].composite.layers[0].image.data"]);
  });

  it("an animated GIF of 10,000 frames", async () => {
    const gif = manyFrameGif(10_000);
    expect((await sharp(gif, { animated: true }).metadata()).pages).toBe(10_000);
    expect(await refusal(client.transform({ image: inline(gif) }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["image.data"],
      message: expect.stringMatching(/10000 frames/),
    });
  });

  it("an animation whose frames together pass the pixel limit, kept whole; its first frame alone is read", async () => {
    const small = imageClient({ limits: { ...defaultImageLimits, maxPixels: 3000 } });
    try {
      const gif = await animatedGif(["#f00", "#0f0", "#00f"], 40, 30); // 1,200 pixels a frame, 3,600 in all
      expect(await refusal(small.client.transform({ image: inline(gif), format: ImageFormat.GIF }))).toMatchObject({
        fields: ["image.data"],
        message: expect.stringMatching(/3 frames of 40 × 30/),
      });
      const first = await small.client.transform({ image: inline(gif), format: ImageFormat.PNG });
      expect([first.width, first.height, first.frames]).toEqual([40, 30, 1]);
    } finally {
      await small.close();
    }
  });

  it("crops of nothing and crops outside the image", async () => {
    const image = await solid(100, 80, "#fff");
    const crop = async (c: object) => refusal(client.transform({ image: inline(image), operations: [op("crop", c)] }));
    expect((await crop({ left: 0, top: 0, width: 0, height: 0 })).fields).toEqual(["operations[0].crop.width"]);
    expect(await crop({ left: 50, top: 0, width: 60, height: 10 })).toMatchObject({
      fields: ["operations[0].crop"],
      message: expect.stringMatching(/outside the image, which is 100 × 80/),
    });
  });

  it("an SVG that points at a file on the server draws nothing of it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flowforge-svg-"));
    try {
      const file = join(dir, "secret.png");
      await writeFile(file, await solid(48, 48, "#ff0000"));
      const svg = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="48" height="48"><image href="file://${file}" width="48" height="48"/><image xlink:href="${file}" width="48" height="48"/></svg>`,
      );
      const r = await client.transform({ image: inline(svg), format: ImageFormat.PNG });
      const stats = await sharp(bytesOf(r.image)).stats();
      expect(stats.channels.map((c) => c.max)).toEqual([0, 0, 0, 0]); // transparent: no red came in
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a pipeline of 10,000 operations, refused before the image is read", async () => {
    const operations = Array.from({ length: 10_000 }, () => op("blur", { sigma: 1 }));
    expect(await refusal(client.transform({ image: inline(new Uint8Array([1])), operations }))).toMatchObject({
      fields: ["operations"],
      message: expect.stringMatching(/at most 50/),
    });
  });

  it("out-of-range options, unknown formats and unknown enum values", async () => {
    const image = await solid(20, 20, "#fff");
    const fields = async (req: object) => (await refusal(client.transform({ image: inline(image), ...req }))).fields;
    expect(await fields({ quality: 500 })).toEqual(["quality"]);
    expect(await fields({ format: 99 })).toEqual(["format"]);
    expect(await fields({ format: 7 })).toEqual(["format"]); // SVG is read, not written
    expect(await fields({ format: 1, effort: 3 })).toEqual(["effort"]); // JPEG takes none
    expect(await fields({ format: 3, effort: 9 })).toEqual(["effort"]);
    expect(await fields({ format: 1, lossless: true })).toEqual(["lossless"]);
    expect(await fields({ operations: [op("resize", {})] })).toEqual(["operations[0].resize.width"]);
    expect(await fields({ operations: [op("resize", { width: 10, fit: 42 })] })).toEqual(["operations[0].resize.fit"]);
    expect(await fields({ operations: [op("blur", { sigma: 0.1 })] })).toEqual(["operations[0].blur.sigma"]);
    expect(await fields({ operations: [op("tint", { color: "#zzz" })] })).toEqual(["operations[0].tint.color"]);
    expect(await fields({ operations: [op("tint", { color: "notacolour" })] })).toEqual(["operations[0].tint.color"]);
    expect(await fields({ operations: [op("median", { size: 4 })] })).toEqual(["operations[0].median.size"]);
    expect(await fields({ operations: [create(OperationSchema)] })).toEqual(["operations[0]"]);
    expect(
      await fields({
        operations: [
          op("composite", { layers: [{ content: { case: "text", value: { text: "x", font: '"><span' } } }] }),
        ],
      }),
    ).toEqual(["operations[0].composite.layers[0].text.font"]);
    expect(await fields({ operations: [op("composite", { layers: [{ left: 3 }] })] })).toEqual([
      "operations[0].composite.layers[0]",
    ]);
    expect((await refusal(client.compare({ image: inline(image) }))).fields).toEqual(["other.data"]);
    expect((await refusal(client.getPlaceholder({ image: inline(image), componentsX: 10 }))).fields).toEqual([
      "components_x",
    ]);
    expect((await refusal(client.thumbnail({ image: inline(image), width: 100_000 }))).fields).toEqual(["width"]);
  });

  it("outputs past the pixel limit, refused before they are made", async () => {
    const image = await solid(20, 20, "#fff");
    expect(
      await refusal(
        client.transform({ image: inline(image), operations: [op("resize", { width: 20_000, height: 20_000 })] }),
      ),
    ).toMatchObject({ fields: ["operations[0].resize"], message: expect.stringMatching(/20000 × 20000/) });
    expect(
      (
        await refusal(
          client.transform({
            image: inline(image),
            operations: [op("resize", { width: 5000 }), op("extend", { left: 50_000, right: 50_000 })],
          }),
        )
      ).fields,
    ).toEqual(["operations[1].extend"]);
    const text = { content: { case: "text", value: { text: "W".repeat(1000), size: 1000 } } };
    expect(
      (await refusal(client.transform({ image: inline(image), operations: [op("composite", { layers: [text] })] })))
        .fields,
    ).toEqual(["operations[0].composite.layers[0].text.size"]);
  });
});

describe("bounded in time, and others still answered", () => {
  it("a call past the time limit is deadline_exceeded, and the next call is answered", async () => {
    const slow = imageClient({ limits: { ...defaultImageLimits, timeMs: 1000 } });
    try {
      const big = await scene(6000, 4000, 0, "png");
      const heavy = Array.from({ length: 6 }, () => op("blur", { sigma: 80 }));
      const r = await refusal(slow.client.transform({ image: inline(big), operations: heavy }));
      expect(r.code).toBe(Code.DeadlineExceeded);
      const ok = await slow.client.getMetadata({ image: inline(await solid(10, 10, "#fff")) });
      expect(ok.width).toBe(10);
    } finally {
      await slow.close();
    }
  });

  it("small calls are answered while a heavy one runs", async () => {
    const big = await scene(6000, 4000, 0, "png");
    let heavyDone = false;
    const heavy = client
      .transform({
        image: inline(big),
        operations: [op("blur", { sigma: 40 }), op("resize", { width: 3000 }), op("sharpen", { sigma: 3 })],
      })
      .finally(() => {
        heavyDone = true;
      });
    const small = await solid(64, 64, "#336699");
    for (let i = 0; i < 3; i++) {
      const r = await client.thumbnail({ image: inline(small), width: 32 });
      expect(r.width).toBe(32);
    }
    expect(heavyDone).toBe(false);
    expect((await heavy).width).toBe(3000);
  });

  it("a unary call is answered while a batch's heavy items fill the job slots", async () => {
    const { impl, stats } = createImageService({ concurrency: 2 }); // one slot for job items, one kept for callers
    const big = await scene(5000, 4000, 0, "png");
    let itemsDone = 0;
    const items = Array.from({ length: 3 }, async () => {
      const request = create(TransformRequestSchema, {
        image: inline(big),
        operations: [op("blur", { sigma: 30 }), op("resize", { width: 2000 })],
      });
      await impl.transform(request, context("job"));
      itemsDone++;
    });
    // every item running or waiting before the unary call asks (each reads its header first)
    await until(() => stats().runningJobs + stats().waiting === 3);
    const unary = await impl.thumbnail(
      create(ThumbnailRequestSchema, { image: inline(await solid(64, 64, "#336699")), width: 16 }),
      context("grpc"),
    );
    expect([unary.width, itemsDone]).toEqual([16, 0]);
    await Promise.all(items);
    expect(itemsDone).toBe(3);
  });

  it("images that together would hold more pixels than the memory given run one after the other", async () => {
    const big = await scene(4000, 3000, 0, "png"); // 12 MP: 96 MB on the bulkhead
    const finished: string[] = [];
    const transform = (impl: ReturnType<typeof createImageService>["impl"], name: string, operations: Operation[]) =>
      Promise.resolve(
        impl.transform(create(TransformRequestSchema, { image: inline(big), operations }), context("grpc")),
      ).then(() => finished.push(name));
    const heavy = [op("blur", { sigma: 40 }), op("resize", { width: 100 })];
    const light = [op("resize", { width: 100 })];
    for (const [memoryBytes, order] of [
      [150 * 1024 * 1024, ["heavy", "light"]], // room for one: the light one waits
      [1024 * 1024 * 1024, ["light", "heavy"]], // room for both: the light one passes
    ] as const) {
      finished.length = 0;
      const { impl, stats } = createImageService({ concurrency: 4, memoryBytes });
      const first = transform(impl, "heavy", heavy);
      await until(() => stats().running === 1); // the heavy one holds its weight before the light one asks
      await Promise.all([first, transform(impl, "light", light)]);
      expect(finished).toEqual(order);
    }
  });
});
