/**
 * ImageService on sharp (libvips). Every call's image work runs on a bulkhead (unary callers
 * keep a slot while job items fill the rest, tenants take turns), bounded by the operator's
 * limits: sources checked from their headers before decoding, sizes before each pipeline runs,
 * time while it runs. libvips works off the event loop, so the process keeps answering.
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  ChromaSubsampling,
  Fit,
  Gravity,
  ImageFormat,
  type ImageService,
  type Layer,
  ResizeSchema,
} from "#gen/flowforge/image/v1/image_pb.js";
import type { FileRef } from "#gen/flowforge/common/v1/common_pb.js";
import { type BlobStore, fileBytes, fileOut } from "#blobs/index.js";
import { type BulkheadStats, createBulkhead } from "#runtime/bulkhead.js";
import { cpuPool, machine } from "#runtime/machine.js";
import { check } from "#runtime/errors.js";
import { checkEncode, decode, displaySize, openSource, outputFormat, type Source, written } from "./codec.js";
import { defaultImageLimits, type ImageLimits } from "./config.js";
import { exifOf, hashDistance, perceptualHashOf, placeholderOf, statisticsOf } from "./inspect.js";
import { checkOperations, type Step } from "./operations.js";
import { plan, type RunAsk, run } from "./pipeline.js";

/** Options for createImageService. */
export interface ImageServiceOptions {
  /** The operator's limits. @default defaultImageLimits */
  limits?: ImageLimits;
  /** Images processed at once; job items fill all but one. @default cpuPool().threads: the CPUs, plus one for unary callers */
  concurrency?: number;
  /** Bytes of pixels the images processed at once may hold together. @default half of machine().memoryBytes */
  memoryBytes?: number;
  /** Where blob_id sources are read from and large answers are kept. */
  blobs?: BlobStore;
}

/** Bytes a pixel weighs on the bulkhead: RGBA decoded, and a working copy of it. */
const bytesPerPixel = 8;
/** The box a Thumbnail fits into when the request gives none. */
const defaultThumbnailSide = 256;
/** The largest box a Thumbnail fits into. */
const maxThumbnailSide = 4096;
/** Bits apart two hashes may be and still be near-duplicates, unless the request says. */
const defaultThreshold = 10;

/** The pixels of a source's first frame, decoded (what inspection holds). */
const pixelsOf = (source: Source) => source.width * source.height;

/** Creates the ImageService implementation and its bulkhead. */
export function createImageService(options: ImageServiceOptions = {}): {
  impl: ServiceImpl<typeof ImageService>;
  /** What the bulkhead is doing: images running, their weight, calls waiting. */
  stats(): BulkheadStats;
  close(): Promise<void>;
} {
  const limits = options.limits ?? defaultImageLimits;
  const concurrency = Math.max(2, options.concurrency ?? cpuPool().threads);
  const capacity = options.memoryBytes ?? Math.floor(machine().memoryBytes / 2);
  const pool = createBulkhead({
    name: "image",
    concurrency,
    jobConcurrency: concurrency - 1,
    capacity,
    maxWaiting: 10_000,
  });

  /** A file field's bytes, checked from the header as an image. */
  async function source(file: FileRef | undefined, field: string, ctx: HandlerContext) {
    const data = await fileBytes(file?.source, field, ctx, options.blobs);
    return openSource(data, `${field}.${file?.source.case === "blobId" ? "blob_id" : "data"}`, limits);
  }

  /**
   * Runs `work` on the bulkhead, weighed by the pixels it holds at its largest (decoded RGBA, and
   * a working copy), with the call's time limit starting when it gets its slot. A call heavier
   * than the whole capacity waits until it can run alone.
   */
  const work = <T>(ctx: HandlerContext, pixels: number, fn: (deadline: number) => Promise<T>) =>
    pool.run(ctx, () => fn(Date.now() + limits.timeMs), Math.min(capacity, pixels * bytesPerPixel));

  /** Runs a pipeline and answers its image (inline, or a blob past the inline bound or when `store`). */
  async function transform(
    file: FileRef | undefined,
    steps: Step[],
    ask: Omit<RunAsk, "format"> & { format: ImageFormat },
    store: boolean,
    ctx: HandlerContext,
  ) {
    const src = await source(file, "image", ctx);
    const format = outputFormat(ask.format, src.format);
    const runAsk = { ...ask, format };
    checkEncode(runAsk);
    // Layers' images are read and checked before the call takes a slot, and weigh on it too.
    const layers = new Map<Layer, Source>();
    for (const step of steps)
      if (step.op.case === "composite")
        for (const [j, layer] of step.op.value.layers.entries())
          if (layer.content.case === "image")
            layers.set(layer, await source(layer.content.value, `${step.field}.layers[${j}].image`, ctx));
    const openLayer = (layer: Layer) => {
      const layerSource = layers.get(layer)!;
      const image = decode(layerSource, limits, { animated: false, orient: true });
      return { image, ...displaySize(layerSource.meta, layerSource.width, layerSource.height) };
    };
    const planned = plan(src, steps, runAsk, limits);
    const layerPixels = [...layers.values()].reduce((sum, l) => sum + pixelsOf(l), 0);
    const result = await work(ctx, planned.peakPixels + layerPixels, (deadline) =>
      run(src, steps, runAsk, { limits, openLayer, deadline, signal: ctx.signal, plan: planned }),
    );
    check(
      result.data.length <= limits.maxOutputBytes,
      "format",
      `the encoded image is ${result.data.length} bytes; at most ${limits.maxOutputBytes} are answered (the operator's limit): ask for a smaller size, a lower quality or another format`,
    );
    const { mediaType: contentType, extension } = written[format]!;
    const meta = { contentType, filename: `image.${extension}` };
    return {
      image: { source: await fileOut(result.data, meta, ctx, options.blobs, store), contentType },
      width: result.width,
      height: result.height,
      format,
      size: BigInt(result.data.length),
      frames: result.frames,
    };
  }

  const impl: ServiceImpl<typeof ImageService> = {
    async transform(req, ctx) {
      const steps = checkOperations(req.operations, limits);
      return transform(req.image, steps, req, req.store, ctx);
    },

    async thumbnail(req, ctx) {
      const both = req.width === 0 && req.height === 0;
      for (const side of ["width", "height"] as const)
        check(req[side] <= maxThumbnailSide, side, `must be at most ${maxThumbnailSide} pixels`);
      check(req.fit <= Fit.OUTSIDE, "fit", `${req.fit} is not a fit`);
      check(req.gravity <= Gravity.ENTROPY, "gravity", `${req.gravity} is not a gravity`);
      check(
        req.gravity < Gravity.ATTENTION || req.fit === Fit.UNSPECIFIED || req.fit === Fit.COVER,
        "gravity",
        "smart gravities (attention, entropy) choose a crop: they go with FIT_COVER",
      );
      const resize = create(ResizeSchema, {
        width: both ? defaultThumbnailSide : req.width,
        height: both ? defaultThumbnailSide : req.height,
        fit: req.fit,
        gravity: req.gravity,
      });
      const step: Step = { op: { case: "resize", value: resize }, index: 0, field: req.width ? "width" : "height" };
      const ask = {
        format: req.format || ImageFormat.WEBP,
        quality: req.quality,
        lossless: false,
        progressive: false,
        chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_UNSPECIFIED,
        keepExif: false,
        keepIcc: false,
        keepXmp: false,
        ignoreOrientation: false,
      };
      const { image, width, height, format, size } = await transform(req.image, [step], ask, req.store, ctx);
      return { image, width, height, format, size };
    },

    async getMetadata(req, ctx) {
      const src = await source(req.image, "image", ctx);
      const m = src.meta;
      const { exif, iccName } = await exifOf(src.data);
      const shown = displaySize(m, src.width, src.height);
      const statistics = req.statistics
        ? await work(ctx, pixelsOf(src), () => statisticsOf(decode(src, limits, { animated: false, orient: true })))
        : undefined;
      return {
        width: src.width,
        height: src.height,
        format: src.format,
        pages: src.frames,
        density: m.density ?? 0,
        hasAlpha: m.hasAlpha ?? false,
        colorSpace: m.space ?? "",
        channels: m.channels ?? 0,
        depth: m.depth ?? "",
        orientation: m.orientation ?? 0,
        displayWidth: shown.width,
        displayHeight: shown.height,
        progressive: m.isProgressive ?? false,
        hasExif: m.exif !== undefined,
        exif,
        hasIcc: m.icc !== undefined,
        iccProfileName: iccName,
        hasXmp: m.xmp !== undefined,
        delays: m.delay ?? [],
        loop: m.loop ?? 0,
        size: BigInt(src.data.length),
        statistics,
      };
    },

    async getPlaceholder(req, ctx) {
      const x = req.componentsX || 4;
      const y = req.componentsY || 3;
      check(x >= 1 && x <= 9, "components_x", "must be from 1 to 9");
      check(y >= 1 && y <= 9, "components_y", "must be from 1 to 9");
      const src = await source(req.image, "image", ctx);
      return work(ctx, pixelsOf(src), () => placeholderOf(src, limits, { x, y }));
    },

    async perceptualHash(req, ctx) {
      const src = await source(req.image, "image", ctx);
      return { hash: await work(ctx, pixelsOf(src), () => perceptualHashOf(src, limits)) };
    },

    async compare(req, ctx) {
      const threshold = req.threshold ?? defaultThreshold;
      check(threshold <= 64, "threshold", "must be from 0 to 64 bits");
      const [a, b] = await Promise.all([source(req.image, "image", ctx), source(req.other, "other", ctx)]);
      const [hash, otherHash] = await work(ctx, pixelsOf(a) + pixelsOf(b), () =>
        Promise.all([perceptualHashOf(a, limits), perceptualHashOf(b, limits)]),
      );
      const distance = hashDistance(hash, otherHash);
      return { distance, similarity: 1 - distance / 64, nearDuplicate: distance <= threshold, hash, otherHash };
    },
  };

  return { impl, stats: pool.stats, close: async () => {} };
}
