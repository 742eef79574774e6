/**
 * A Transform run: the source decoded once, each stage of operations one libvips pipeline (the
 * pixels passed on as uncompressed TIFF in memory, which keeps every frame and, when asked, the
 * metadata), the result encoded once. Every stage is bounded in output size before it runs and
 * in time while it runs.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import sharp, { type Sharp } from "sharp";
import { check, invalidArgument } from "#runtime/errors.js";
import { animatable, decode, displaySize, type EncodeAsk, encode, type Source } from "./codec.js";
import type { ImageLimits } from "./config.js";
import {
  applyStage,
  checkSize,
  type LayerImage,
  type PreparedLayer,
  prepareLayers,
  type Size,
  type Step,
  sizeAfter,
  stagesOf,
} from "./operations.js";

/** What a run is asked for besides its steps. */
export interface RunAsk extends EncodeAsk {
  keepExif: boolean;
  keepIcc: boolean;
  keepXmp: boolean;
  ignoreOrientation: boolean;
}

/** A run's result: the encoded image, one frame's size and its frames. */
export interface RunResult {
  data: Uint8Array;
  width: number;
  height: number;
  frames: number;
}

/** Options of a run: the limits, how layers are read, and when time is up. */
export interface RunOptions {
  limits: ImageLimits;
  openLayer: LayerImage;
  /** Epoch milliseconds by which the run must end. */
  deadline: number;
  signal: AbortSignal;
}

/** What a run will do, worked out before any pixel is decoded. */
export interface Plan {
  animated: boolean;
  /** The size the first step meets (turned upright unless told not to). */
  start: Size;
  /** The most pixels any step's image holds (every frame counted), the source's included. */
  peakPixels: number;
}

/**
 * Plans a run and bounds it before anything is decoded: an animation kept whole within the source
 * pixel limit across its frames, and the size every step asks for within the output limit, naming
 * the step.
 */
export function plan(source: Source, steps: Step[], ask: RunAsk, limits: ImageLimits): Plan {
  const animated = source.frames > 1 && animatable(source.format) && animatable(ask.format);
  const frames = animated ? source.frames : 1;
  const sourcePixels = source.width * source.height * frames;
  check(
    sourcePixels <= limits.maxPixels,
    source.field,
    `is ${frames} frames of ${source.width} × ${source.height}: ${(sourcePixels / 1e6).toFixed(1)} megapixels in all; at most ${limits.maxPixels / 1e6} are read (the operator's limit)`,
  );
  const upright = ask.ignoreOrientation ? source : displaySize(source.meta, source.width, source.height);
  const start: Size = { width: upright.width, height: upright.height, frames };
  let peakPixels = start.width * start.height * frames;
  let bound = start;
  for (const step of steps) {
    bound = sizeAfter(step.op, bound);
    checkSize(bound, step.field, limits);
    peakPixels = Math.max(peakPixels, bound.width * bound.height * bound.frames);
  }
  return { animated, start, peakPixels };
}

/** Runs `steps` on `source` as planned and encodes the result as `ask` says. */
export async function run(
  source: Source,
  steps: Step[],
  ask: RunAsk,
  o: RunOptions & { plan: Plan },
): Promise<RunResult> {
  const { animated, start } = o.plan;
  const frames = start.frames;
  let size = start;
  const keep = ask.keepExif || ask.keepIcc || ask.keepXmp;
  const stages = stagesOf(steps);
  let image = decode(source, o.limits, { animated, orient: !ask.ignoreOrientation });
  for (const [k, stage] of stages.entries()) {
    const last = k === stages.length - 1;
    const layers = await layersOf(stage, size, o);
    let staged = applyStage(image, stage, size, layers);
    if (!last) {
      if (keep) staged = staged.keepMetadata();
      const out = await runStage(staged.tiff({ compression: "none" }), source, stage, k, o);
      size = { width: out.info.width, height: out.info.pageHeight ?? out.info.height, frames };
      checkSize(size, stage.at(-1)!.field, o.limits);
      image = sharp(out.data, {
        limitInputPixels: o.limits.maxOutputPixels,
        ...(animated ? { animated: true } : {}),
      });
      continue;
    }
    if (ask.keepExif) staged = staged.keepExif();
    if (ask.keepIcc) staged = staged.keepIccProfile();
    if (ask.keepXmp) staged = staged.keepXmp();
    image = staged;
  }
  const animation = animated ? { delay: source.meta.delay, loop: source.meta.loop } : undefined;
  const out = await runStage(encode(image, ask, animation), source, stages.at(-1) ?? [], stages.length - 1, o);
  const outFrames = animated ? (out.info.pages ?? frames) : 1;
  return {
    data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength),
    width: out.info.width,
    height: out.info.pageHeight ?? out.info.height,
    frames: outFrames,
  };
}

/** A composite's layers, prepared for the exact size its stage begins with. */
async function layersOf(stage: Step[], size: Size, o: RunOptions): Promise<PreparedLayer[] | undefined> {
  const first = stage[0];
  if (first?.op.case !== "composite") return undefined;
  return prepareLayers(first as Step & { op: { case: "composite" } }, size, {
    open: o.openLayer,
    limits: o.limits,
    timeoutSeconds: secondsLeft(o.deadline),
  });
}

const secondsLeft = (deadline: number) => Math.max(1, Math.ceil((deadline - Date.now()) / 1000));

/**
 * Runs one pipeline to its buffer. Past the deadline it is deadline_exceeded; a failure is the
 * source's when the source alone does not decode, else the stage's first step's.
 */
async function runStage(image: Sharp, source: Source, stage: Step[], k: number, o: RunOptions) {
  o.signal.throwIfAborted();
  try {
    return await image.timeout({ seconds: secondsLeft(o.deadline) }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (Date.now() >= o.deadline - 50)
      throw new ConnectError(
        `the image took longer than the ${o.limits.timeMs / 1000} s a call may take (the operator's limit)`,
        Code.DeadlineExceeded,
        undefined,
        undefined,
        err,
      );
    if (err instanceof ConnectError) throw err;
    const field = k <= 0 && !(await decodes(source, o.limits)) ? source.field : (stage[0]?.field ?? source.field);
    throw invalidArgument(field, `cannot be processed: ${(err as Error).message}`, err);
  }
}

/** Whether the source decodes on its own (every pixel read, at a small size). */
async function decodes(source: Source, limits: ImageLimits): Promise<boolean> {
  try {
    await decode(source, limits, { animated: false, orient: false }).resize(8, 8).raw().toBuffer();
    return true;
  } catch {
    return false;
  }
}
