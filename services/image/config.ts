/**
 * The image capability's settings: the operator's limits, read once from the environment. A
 * request can ask for less (a smaller output) but never more than these.
 */
import { makeValidator, num } from "envalid";
import { clean } from "#config/index.js";

/** Bounds every call is held to. */
export interface ImageLimits {
  /** Pixels of a source image, every frame of an animation counted. */
  maxPixels: number;
  /** Frames of an animation (pages of a TIFF). */
  maxFrames: number;
  /** Bytes of a source image. */
  maxInputBytes: number;
  /** Pixels of the image at any step and of the answer (every frame counted). */
  maxOutputPixels: number;
  /** Bytes of the encoded answer. */
  maxOutputBytes: number;
  /** Operations of one Transform, composite layers counted. */
  maxOperations: number;
  /** Longest one call's image work may take, in milliseconds. */
  timeMs: number;
}

/** The operator's limits unless configured. */
export const defaultImageLimits: ImageLimits = {
  maxPixels: 50_000_000,
  maxFrames: 500,
  maxInputBytes: 64 * 1024 * 1024,
  maxOutputPixels: 50_000_000,
  maxOutputBytes: 64 * 1024 * 1024,
  maxOperations: 50,
  timeMs: 30_000,
};

/** A whole number of at least 1. */
const count = makeValidator<number>((raw) => {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`must be a whole number of at least 1, got "${raw}"`);
  return n;
});

const limit = (desc: string, fallback: number) => count({ default: fallback, desc });

/** The image service's settings from the environment (every variable is documented in docs/operating.md). */
export function imageConfig(env: NodeJS.ProcessEnv = process.env) {
  const d = defaultImageLimits;
  const e = clean(env, {
    IMAGE_MAX_PIXELS: limit("pixels of a source image, every frame counted", d.maxPixels),
    IMAGE_MAX_FRAMES: limit("frames of an animation or pages of a TIFF", d.maxFrames),
    IMAGE_MAX_INPUT_BYTES: limit("bytes of a source image", d.maxInputBytes),
    IMAGE_MAX_OUTPUT_PIXELS: limit("pixels of the image at any step and of the answer", d.maxOutputPixels),
    IMAGE_MAX_OUTPUT_BYTES: limit("bytes of an encoded answer", d.maxOutputBytes),
    IMAGE_MAX_OPERATIONS: limit("operations of one Transform, layers counted", d.maxOperations),
    IMAGE_TIMEOUT_MS: limit("longest one call's image work may take", d.timeMs),
    IMAGE_CONCURRENCY: num({
      default: undefined,
      desc: "images processed at once; job items fill all but one (default: the CPUs plus one)",
    }),
    IMAGE_MEMORY_MIB: num({
      default: undefined,
      desc: "pixels the images processed at once may hold together, in MiB (default: half the process's memory)",
    }),
    IMAGE_VIPS_THREADS: limit("libvips threads per image: the bulkhead already runs one image per CPU", 1),
    IMAGE_VIPS_CACHE_MIB: num({ default: 16, desc: "libvips operation cache in MiB (0: off)" }),
  });
  return {
    limits: {
      maxPixels: e.IMAGE_MAX_PIXELS,
      maxFrames: e.IMAGE_MAX_FRAMES,
      maxInputBytes: e.IMAGE_MAX_INPUT_BYTES,
      maxOutputPixels: e.IMAGE_MAX_OUTPUT_PIXELS,
      maxOutputBytes: e.IMAGE_MAX_OUTPUT_BYTES,
      maxOperations: e.IMAGE_MAX_OPERATIONS,
      timeMs: e.IMAGE_TIMEOUT_MS,
    } satisfies ImageLimits,
    concurrency: e.IMAGE_CONCURRENCY,
    memoryBytes: e.IMAGE_MEMORY_MIB === undefined ? undefined : e.IMAGE_MEMORY_MIB * 1024 * 1024,
    vipsThreads: e.IMAGE_VIPS_THREADS,
    vipsCacheMib: e.IMAGE_VIPS_CACHE_MIB,
  };
}

/** The image service's configuration. */
export type ImageConfig = ReturnType<typeof imageConfig>;
