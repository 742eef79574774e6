/**
 * ImageService's handlers over connect's in-memory transport: each operation's effect checked in
 * the pixels of the answer, the order of a pipeline, formats and their options, animation,
 * orientation and metadata, inspection, placeholders and perceptual hashes.
 */
import { afterAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import { decode as decodeBlurhash, isBlurhashValid } from "blurhash";
import { thumbHashToApproximateAspectRatio } from "thumbhash";
import {
  ChromaSubsampling,
  ExtendWith,
  Fit,
  Gravity,
  ImageFormat,
  type Operation,
} from "#gen/flowforge/image/v1/image_pb.js";
import { stagesOf } from "../operations.js";
import { animatedGif, op, bytesOf, drawn, imageClient, inline, near, pixel, scene, solid } from "./helpers.js";

const { client, close } = imageClient();
afterAll(() => close());

const transform = async (image: Uint8Array, operations: Operation[], more: object = {}) => {
  const res = await client.transform({ image: inline(image), operations, ...more });
  return { ...res, bytes: bytesOf(res.image) };
};

/** Top half red, bottom half blue. */
const halves = () =>
  drawn(
    100,
    100,
    '<rect width="100" height="50" fill="#ff0000"/><rect y="50" width="100" height="50" fill="#0000ff"/>',
  );

describe("Transform", () => {
  it("resizes a JPEG to 720 × 588 WebP, the acceptance shape", async () => {
    const jpeg = await scene(2725, 2225);
    const res = await transform(jpeg, [op("resize", { width: 720, height: 588, fit: Fit.COVER })], {
      format: ImageFormat.WEBP,
    });
    expect([res.width, res.height, res.format, res.frames]).toEqual([720, 588, ImageFormat.WEBP, 1]);
    expect(res.image?.contentType).toBe("image/webp");
    const meta = await sharp(res.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["webp", 720, 588]);
    expect(Number(res.size)).toBe(res.bytes.length);
  });

  it("fits a 400 × 200 image into 100 × 100 five ways", async () => {
    const wide = await solid(400, 200, "#336699");
    const size = async (fit: Fit, extra = {}) => {
      const r = await transform(wide, [op("resize", { width: 100, height: 100, fit, ...extra })]);
      return [r.width, r.height];
    };
    expect(await size(Fit.COVER)).toEqual([100, 100]);
    expect(await size(Fit.CONTAIN)).toEqual([100, 100]);
    expect(await size(Fit.FILL)).toEqual([100, 100]);
    expect(await size(Fit.INSIDE)).toEqual([100, 50]);
    expect(await size(Fit.OUTSIDE)).toEqual([200, 100]);
    const small = await transform(await solid(50, 40, "#000"), [
      op("resize", { width: 500, withoutEnlargement: true, fit: Fit.INSIDE }),
    ]);
    expect([small.width, small.height]).toEqual([50, 40]);
    const dense = await transform(wide, [op("resize", { width: 100, devicePixelRatio: 2 })]);
    expect([dense.width, dense.height]).toEqual([200, 100]);
  });

  it("letterboxes with the background colour (contain)", async () => {
    const r = await transform(await solid(400, 200, "#ff0000"), [
      op("resize", { width: 100, height: 100, fit: Fit.CONTAIN, background: "#00ff00" }),
    ]);
    expect(near(await pixel(r.bytes, 50, 5), [0, 255, 0, 255])).toBe(true);
    expect(near(await pixel(r.bytes, 50, 50), [255, 0, 0, 255])).toBe(true);
  });

  it("runs operations in the order given: flip then crop differs from crop then flip", async () => {
    const image = await halves();
    const crop = op("crop", { left: 0, top: 0, width: 100, height: 50 });
    const flipFirst = await transform(image, [op("flip"), crop]);
    const cropFirst = await transform(image, [crop, op("flip")]);
    expect([flipFirst.width, flipFirst.height]).toEqual([100, 50]);
    expect(near(await pixel(flipFirst.bytes, 50, 25), [0, 0, 255, 255])).toBe(true);
    expect(near(await pixel(cropFirst.bytes, 50, 25), [255, 0, 0, 255])).toBe(true);
    // a resize before a crop: the crop is in the resized image's pixels
    const resized = await transform(image, [
      op("resize", { width: 50 }),
      op("crop", { left: 0, top: 25, width: 50, height: 25 }),
    ]);
    expect(near(await pixel(resized.bytes, 25, 12), [0, 0, 255, 255])).toBe(true);
  });

  it("groups steps into one libvips pipeline where sharp's order is theirs", () => {
    const steps = (kinds: string[]) =>
      kinds.map((k, index) => ({ op: op(k).operation as never, index, field: `operations[${index}].${k}` }));
    const shape = (kinds: string[]) => stagesOf(steps(kinds)).map((s) => s.map((x) => x.op.case).join("+"));
    expect(shape(["resize", "blur", "sharpen", "normalise"])).toEqual(["resize+blur+sharpen+normalise"]);
    expect(shape(["crop", "resize", "extend"])).toEqual(["crop+resize+extend"]);
    expect(shape(["blur", "resize"])).toEqual(["blur", "resize"]);
    expect(shape(["resize", "crop"])).toEqual(["resize", "crop"]);
    expect(shape(["rotate", "flip", "resize"])).toEqual(["rotate", "flip", "resize"]);
    expect(shape(["resize", "composite", "tint"])).toEqual(["resize", "composite+tint"]);
  });

  it("crops, extends, trims, rotates and mirrors", async () => {
    const framed = await drawn(
      140,
      120,
      '<rect width="140" height="120" fill="#ffffff"/><rect x="20" y="20" width="100" height="80" fill="#cc0000"/>',
    );
    const trimmed = await transform(framed, [op("trim", { threshold: 10 })]);
    expect([trimmed.width, trimmed.height]).toEqual([100, 80]);
    const extended = await transform(await solid(10, 10, "#ff0000"), [
      op("extend", { top: 5, bottom: 5, left: 5, right: 5, background: "navy" }),
    ]);
    expect([extended.width, extended.height]).toEqual([20, 20]);
    expect(near(await pixel(extended.bytes, 0, 0), [0, 0, 128, 255])).toBe(true);
    const mirrored = await transform(await solid(10, 10, "#ff0000"), [
      op("extend", { left: 4, with: ExtendWith.MIRROR }),
    ]);
    expect(near(await pixel(mirrored.bytes, 0, 5), [255, 0, 0, 255])).toBe(true);
    const quarter = await transform(await halves(), [op("rotate", { angle: 90 })]);
    expect(near(await pixel(quarter.bytes, 90, 50), [255, 0, 0, 255])).toBe(true); // the top went right
    const tilted = await transform(await solid(100, 50, "#ffffff"), [
      op("rotate", { angle: 45, background: "#00ff00" }),
    ]);
    expect(tilted.width).toBeGreaterThan(100);
    expect(near(await pixel(tilted.bytes, 0, 0), [0, 255, 0, 255])).toBe(true);
    const flopped = await transform(
      await drawn(
        100,
        10,
        '<rect width="50" height="10" fill="#ff0000"/><rect x="50" width="50" height="10" fill="#0000ff"/>',
      ),
      [op("flop")],
    );
    expect(near(await pixel(flopped.bytes, 10, 5), [0, 0, 255, 255])).toBe(true);
  });

  it("crops smartly: by attention, by gravity and by a focus point", async () => {
    // grey on the left, a saturated red patch on the right
    const image = await drawn(
      600,
      200,
      '<rect width="600" height="200" fill="#808080"/><circle cx="520" cy="100" r="70" fill="#e02020"/>',
    );
    const cover = async (extra: object) => {
      const r = await transform(image, [op("resize", { width: 200, height: 200, ...extra })]);
      return pixel(r.bytes, 100, 100);
    };
    expect(near(await cover({ gravity: Gravity.ATTENTION }), [224, 32, 32, 255], 30)).toBe(true);
    expect(near(await cover({ gravity: Gravity.EAST }), [224, 32, 32, 255], 30)).toBe(true);
    expect(near(await cover({ gravity: Gravity.WEST }), [128, 128, 128, 255])).toBe(true);
    expect(near(await cover({ focus: { x: 0.87, y: 0.5 } }), [224, 32, 32, 255], 30)).toBe(true);
    expect(near(await cover({ focus: { x: 0.1, y: 0.5 } }), [128, 128, 128, 255])).toBe(true);
  });

  it("adjusts colours: negate, grayscale, threshold, tint, flatten, modulate, gamma", async () => {
    const blue = await solid(20, 20, "#336699");
    const at = async (ops: Operation[], image = blue) => pixel((await transform(image, ops)).bytes, 10, 10);
    expect(near(await at([op("negate")]), [0xcc, 0x99, 0x66, 255], 2)).toBe(true);
    const [r, g, b] = await at([op("grayscale")]);
    expect(r === g && g === b).toBe(true);
    expect((await at([op("threshold", { value: 128 })])).slice(0, 3)).toEqual([0, 0, 0]);
    expect((await at([op("threshold", { value: 50 })])).slice(0, 3)).toEqual([255, 255, 255]);
    const tinted = await at([op("tint", { color: "#ff0000" })]);
    expect(tinted[0]).toBeGreaterThan(tinted[2]);
    const clear = await sharp({ create: { width: 20, height: 20, channels: 4, background: "#00000000" } })
      .png()
      .toBuffer();
    expect(await at([op("flatten", { background: "#00ff00" })], clear)).toEqual([0, 255, 0, 255]);
    const brighter = await at([op("modulate", { brightness: 1.5 })]);
    expect(brighter[2]).toBeGreaterThan(0x99);
    const grey = await at([op("modulate", { saturation: 0 })]);
    expect(Math.max(...grey.slice(0, 3)) - Math.min(...grey.slice(0, 3))).toBeLessThan(4);
    const darker = await at([op("gamma", { gamma: 1, gammaOut: 2.2 })]);
    expect(darker[2]).not.toBe(0x99);
  });

  it("blurs, sharpens, filters and equalises (detail measured by sharpness)", async () => {
    const image = await scene(400, 300, 0, "png");
    const sharpness = async (ops: Operation[]) =>
      (await client.getMetadata({ image: inline((await transform(image, ops)).bytes), statistics: true })).statistics!
        .sharpness;
    const base = await sharpness([]);
    expect(await sharpness([op("blur", { sigma: 3 })])).toBeLessThan(base);
    expect(await sharpness([op("median", { size: 5 })])).toBeLessThan(base);
    expect(await sharpness([op("sharpen", { sigma: 2 })])).toBeGreaterThan(base);
    const flat = await solid(50, 50, "#404040");
    const stretched = await transform(
      await drawn(
        50,
        50,
        '<rect width="50" height="25" fill="#404040"/><rect y="25" width="50" height="25" fill="#606060"/>',
      ),
      [op("normalise")],
    );
    expect((await pixel(stretched.bytes, 10, 10))[0]).toBeLessThan(0x40);
    expect((await pixel(stretched.bytes, 10, 40))[0]).toBeGreaterThan(0x60);
    const equalised = await transform(flat, [op("clahe", { width: 8, height: 8 })]);
    expect([equalised.width, equalised.height]).toEqual([50, 50]);
  });

  it("composites layers: an image at a gravity, with opacity, tiled, at an offset, and text", async () => {
    const base = await solid(200, 200, "#ffffff");
    const red = await solid(20, 20, "#ff0000");
    const layer = (extra: object) => ({ content: { case: "image", value: inline(red) }, ...extra });
    const corner = await transform(base, [op("composite", { layers: [layer({ gravity: Gravity.SOUTH_EAST })] })]);
    expect(near(await pixel(corner.bytes, 195, 195), [255, 0, 0, 255])).toBe(true);
    expect(near(await pixel(corner.bytes, 5, 5), [255, 255, 255, 255])).toBe(true);
    const faint = await transform(base, [op("composite", { layers: [layer({ opacity: 0.5 })] })]);
    expect(near(await pixel(faint.bytes, 100, 100), [255, 128, 128, 255], 4)).toBe(true);
    const tiled = await transform(base, [op("composite", { layers: [layer({ tile: true })] })]);
    expect(near(await pixel(tiled.bytes, 5, 5), [255, 0, 0, 255])).toBe(true);
    const placed = await transform(base, [op("composite", { layers: [layer({ left: 30, top: 40 })] })]);
    expect(near(await pixel(placed.bytes, 35, 45), [255, 0, 0, 255])).toBe(true);
    expect(near(await pixel(placed.bytes, 25, 45), [255, 255, 255, 255])).toBe(true);
    const scaled = await transform(base, [
      op("composite", { layers: [layer({ scale: 0.5, gravity: Gravity.NORTH_WEST })] }),
    ]);
    expect(near(await pixel(scaled.bytes, 90, 90), [255, 0, 0, 255])).toBe(true);
    const text = await transform(base, [
      op("composite", {
        layers: [
          {
            content: { case: "text", value: { text: "© FlowForge <b>", size: 28, color: "#000000" } },
            gravity: Gravity.NORTH,
          },
        ],
      }),
    ]);
    const { data } = await sharp(text.bytes)
      .extract({ left: 0, top: 0, width: 200, height: 40 })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(Math.min(...data)).toBeLessThan(64); // dark glyphs drawn at the top
    const { data: below } = await sharp(text.bytes)
      .extract({ left: 0, top: 100, width: 200, height: 100 })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(Math.min(...below)).toBe(255);
  });

  it("writes every format with its options", async () => {
    const image = await scene(320, 240);
    const formatOf = async (format: ImageFormat, more: object = {}) => {
      const r = await transform(image, [], { format, ...more });
      return { r, meta: await sharp(r.bytes).metadata() };
    };
    for (const [format, name] of [
      [ImageFormat.JPEG, "jpeg"],
      [ImageFormat.PNG, "png"],
      [ImageFormat.WEBP, "webp"],
      [ImageFormat.AVIF, "heif"],
      [ImageFormat.GIF, "gif"],
      [ImageFormat.TIFF, "tiff"],
    ] as const) {
      const { r, meta } = await formatOf(format);
      expect([meta.format, meta.width, r.format]).toEqual([name, 320, format]);
    }
    expect((await formatOf(ImageFormat.JPEG, { progressive: true })).meta.isProgressive).toBe(true);
    expect(
      (await formatOf(ImageFormat.JPEG, { chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_444 })).meta
        .chromaSubsampling,
    ).toBe("4:4:4");
    const low = (await formatOf(ImageFormat.JPEG, { quality: 10 })).r.bytes.length;
    const high = (await formatOf(ImageFormat.JPEG, { quality: 95 })).r.bytes.length;
    expect(low).toBeLessThan(high);
    expect((await formatOf(ImageFormat.PNG, { quality: 60 })).meta.isPalette).toBe(true);
    expect((await formatOf(ImageFormat.PNG)).meta.isPalette).toBe(false);
    // lossless WebP: every pixel as it was
    const png = await scene(64, 48, 0, "png");
    const lossless = await transform(png, [], { format: ImageFormat.WEBP, lossless: true });
    const raw = (x: Uint8Array) => sharp(x).ensureAlpha().raw().toBuffer();
    expect(Buffer.compare(await raw(lossless.bytes), await raw(png))).toBe(0);
    // no format: the input's
    expect((await transform(png, [op("resize", { width: 10 })])).format).toBe(ImageFormat.PNG);
  });

  it("keeps every frame of an animation, resized together, with its delays", async () => {
    const gif = await animatedGif(["#ff0000", "#00ff00", "#0000ff"], 40, 30, 120);
    const r = await transform(gif, [op("resize", { width: 20 })], { format: ImageFormat.WEBP });
    expect([r.width, r.height, r.frames]).toEqual([20, 15, 3]);
    const meta = await sharp(r.bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.pageHeight, meta.delay]).toEqual(["webp", 3, 15, [120, 120, 120]]);
    const frame = async (page: number) => pixel(await sharp(r.bytes, { page }).png().toBuffer(), 10, 7);
    expect(near(await frame(0), [255, 0, 0, 255], 20)).toBe(true);
    expect(near(await frame(2), [0, 0, 255, 255], 20)).toBe(true);
    // through two stages (blur, then a resize) the frames stay
    const staged = await transform(gif, [op("blur", { sigma: 1 }), op("resize", { width: 10 })], {
      format: ImageFormat.GIF,
    });
    expect([staged.width, staged.height, staged.frames]).toEqual([10, 8, 3]);
    expect((await sharp(staged.bytes, { animated: true }).metadata()).pages).toBe(3);
    // to a still format: the first frame
    const still = await transform(gif, [], { format: ImageFormat.PNG });
    expect([still.frames, still.height]).toEqual([1, 30]);
  });

  it("turns an image upright from its EXIF orientation unless told not to", async () => {
    const sideways = await sharp(await halves())
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const wide = await sharp(
      await drawn(
        200,
        100,
        '<rect width="100" height="100" fill="#ff0000"/><rect x="100" width="100" height="100" fill="#0000ff"/>',
      ),
    )
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const upright = await transform(wide, [], { format: ImageFormat.PNG });
    expect([upright.width, upright.height]).toEqual([100, 200]);
    expect(near(await pixel(upright.bytes, 50, 20), [255, 0, 0, 255], 30)).toBe(true); // the left went up
    const asStored = await transform(wide, [], { format: ImageFormat.PNG, ignoreOrientation: true });
    expect([asStored.width, asStored.height]).toEqual([200, 100]);
    const meta = await client.getMetadata({ image: inline(sideways) });
    expect([meta.orientation, meta.width, meta.displayWidth]).toEqual([6, 100, 100]);
  });

  it("strips metadata by default and keeps EXIF, ICC and XMP each on request", async () => {
    const xmp =
      '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>';
    const tagged = await sharp(await scene(200, 150, 0, "png"))
      .withExif({ IFD0: { Make: "Acme", Model: "Falcon 9" } })
      .withIccProfile("p3")
      .withXmp(xmp)
      .jpeg()
      .toBuffer();
    const kept = async (more: object) => {
      const m = await sharp(
        (await transform(tagged, [op("resize", { width: 100 }), op("blur", { sigma: 1 }), op("flip")], more)).bytes,
      ).metadata();
      return [m.exif !== undefined, m.icc !== undefined, m.xmp !== undefined];
    };
    expect(await kept({})).toEqual([false, false, false]);
    expect(await kept({ keepExif: true })).toEqual([true, false, false]);
    expect(await kept({ keepIcc: true })).toEqual([false, true, false]);
    expect(await kept({ keepXmp: true })).toEqual([false, false, true]);
  });
});

describe("Thumbnail", () => {
  it("makes a 256 × 256 WebP by default, and any box asked for", async () => {
    const photo = await scene(1200, 800);
    const r = await client.thumbnail({ image: inline(photo) });
    expect([r.width, r.height, r.format]).toEqual([256, 256, ImageFormat.WEBP]);
    expect((await sharp(bytesOf(r.image)).metadata()).format).toBe("webp");
    const wide = await client.thumbnail({ image: inline(photo), width: 120, format: ImageFormat.JPEG });
    expect([wide.width, wide.height, wide.format]).toEqual([120, 80, ImageFormat.JPEG]);
  });
});

describe("GetMetadata", () => {
  it("reads size, format, EXIF fields, GPS, the ICC profile's name and XMP", async () => {
    const image = await sharp(await scene(300, 200, 0, "png"))
      .withExif({
        IFD0: { Make: "Acme", Model: "Falcon 9", Software: "FlowForge tests", Copyright: "CC0" },
        IFD2: { DateTimeOriginal: "2024:05:01 12:34:56", FNumber: "28/10", ExposureTime: "1/250", FocalLength: "35/1" },
        IFD3: {
          GPSLatitudeRef: "S",
          GPSLatitude: "33/1 51/1 3600/100",
          GPSLongitudeRef: "E",
          GPSLongitude: "151/1 12/1 0/1",
        },
      })
      .withIccProfile("srgb")
      .withXmp(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>',
      )
      .jpeg()
      .toBuffer();
    const m = await client.getMetadata({ image: inline(image) });
    expect([m.width, m.height, m.format, m.pages, m.hasAlpha, m.channels]).toEqual([
      300,
      200,
      ImageFormat.JPEG,
      1,
      false,
      3,
    ]);
    expect([m.hasExif, m.hasIcc, m.hasXmp, Number(m.size)]).toEqual([true, true, true, image.length]);
    expect(m.exif).toMatchObject({
      make: "Acme",
      model: "Falcon 9",
      software: "FlowForge tests",
      copyright: "CC0",
      takenAt: "2024-05-01T12:34:56",
      fNumber: 2.8,
      exposureTime: 0.004,
      focalLength: 35,
    });
    expect(m.exif!.gps!.latitude).toBeCloseTo(-(33 + 51 / 60 + 36 / 3600), 5);
    expect(m.exif!.gps!.longitude).toBeCloseTo(151.2, 5);
    expect(m.iccProfileName).toMatch(/srgb/i);
    expect(m.statistics).toBeUndefined();
  });

  it("reads an animation's frames, delays and loop", async () => {
    const m = await client.getMetadata({ image: inline(await animatedGif(["#f00", "#0f0"], 10, 10, 250)) });
    expect([m.format, m.pages, m.height, m.delays, m.loop]).toEqual([ImageFormat.GIF, 2, 10, [250, 250], 0]);
  });

  it("answers statistics from the pixels when asked", async () => {
    const plain = await client.getMetadata({ image: inline(await solid(64, 64, "#336699")), statistics: true });
    expect(plain.statistics).toMatchObject({ average: { hex: "#336699" }, entropy: 0, opaque: true });
    expect(
      near(
        [plain.statistics!.dominant!.red, plain.statistics!.dominant!.green, plain.statistics!.dominant!.blue],
        [0x33, 0x66, 0x99],
        16,
      ),
    ).toBe(true);
    const split = await client.getMetadata({
      image: inline(
        await drawn(
          64,
          64,
          '<rect width="64" height="32" fill="#000"/><rect y="32" width="64" height="32" fill="#fff"/>',
        ),
      ),
      statistics: true,
    });
    expect(split.statistics!.entropy).toBeCloseTo(1, 1);
    expect(split.statistics!.average!.hex).toMatch(/^#(7f7f7f|808080)$/);
  });
});

describe("GetPlaceholder, PerceptualHash and Compare", () => {
  it("answers a BlurHash, a ThumbHash and colours that describe the image", async () => {
    const r = await client.getPlaceholder({
      image: inline(await solid(300, 150, "#3366cc")),
      componentsX: 5,
      componentsY: 4,
    });
    expect(isBlurhashValid(r.blurhash).result).toBe(true);
    const pixels = decodeBlurhash(r.blurhash, 8, 8);
    expect(near([...pixels.subarray(0, 3)], [0x33, 0x66, 0xcc], 12)).toBe(true);
    const thumb = Buffer.from(r.thumbhash, "base64");
    expect(thumbHashToApproximateAspectRatio(thumb)).toBeCloseTo(2, 0);
    expect(r.thumbhashDataUrl).toMatch(/^data:image\/png;base64,/);
    expect([r.average!.hex, r.width, r.height]).toEqual(["#3366cc", 300, 150]);
  });

  it("finds near-duplicates: a resized, recompressed copy is close, another picture far", async () => {
    const original = await scene(800, 600);
    const copy = await sharp(original).resize(400).jpeg({ quality: 40 }).toBuffer();
    const other = await scene(800, 600, 1);
    const { hash } = await client.perceptualHash({ image: inline(original) });
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    const near = await client.compare({ image: inline(original), other: inline(copy) });
    expect(near.hash).toBe(hash);
    expect(near.distance).toBeLessThanOrEqual(6);
    expect(near.nearDuplicate).toBe(true);
    const far = await client.compare({ image: inline(original), other: inline(other) });
    expect(far.distance).toBeGreaterThan(10);
    expect(far.nearDuplicate).toBe(false);
    expect(far.similarity).toBeCloseTo(1 - far.distance / 64, 10);
    const exact = await client.compare({ image: inline(original), other: inline(copy), threshold: 0 });
    expect(exact.nearDuplicate).toBe(near.distance === 0);
    const self = await client.compare({ image: inline(original), other: inline(original), threshold: 0 });
    expect([self.distance, self.nearDuplicate]).toEqual([0, true]);
  });
});
