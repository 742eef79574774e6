/**
 * The operations of a pipeline: each checked before any image is read (ranges, colours, the
 * operator's count), grouped into libvips pipelines, bounded in size step by step, and applied
 * to sharp.
 *
 * sharp runs the operations of one pipeline in its own fixed order (crop, flatten, resize,
 * extend, filters, composite, tone), whatever order they were called in. So a stage is a run of
 * operations whose ranks in that order rise; the next operation that would run earlier than its
 * predecessor starts a new stage, and the pixels pass between stages losslessly in memory. A few
 * operations always stand alone (their place in sharp's order depends on the others), and crop
 * and composite always begin a stage (they need the exact size of the image they meet).
 */
import sharp, { type OverlayOptions, type Sharp } from "sharp";
import {
  Blend,
  ExtendWith,
  Fit,
  Gravity,
  Kernel,
  type Layer,
  type Operation,
  type TextLayer,
} from "#gen/flowforge/image/v1/image_pb.js";
import { ConnectError } from "@connectrpc/connect";
import { check, invalidArgument } from "#runtime/errors.js";
import type { ImageLimits } from "./config.js";

/** One operation of a request, and the field that names it (`operations[3].resize`). */
export interface Step {
  op: Exclude<Operation["operation"], { case: undefined }>;
  index: number;
  field: string;
}

/** An image's size at a step: one frame's width and height, and its frames. */
export interface Size {
  width: number;
  height: number;
  frames: number;
}

type Kind = Step["op"]["case"];

/** Where an operation runs in sharp's fixed order, and whether it may share a stage. */
const placement: Record<Kind, { rank: number; place: "any" | "first" | "alone" }> = {
  trim: { rank: 0, place: "alone" },
  rotate: { rank: 0, place: "alone" },
  flip: { rank: 0, place: "alone" },
  flop: { rank: 0, place: "alone" },
  crop: { rank: 20, place: "first" },
  flatten: { rank: 30, place: "any" },
  gamma: { rank: 31, place: "any" },
  grayscale: { rank: 32, place: "any" },
  resize: { rank: 40, place: "any" },
  extend: { rank: 50, place: "any" },
  median: { rank: 60, place: "any" },
  threshold: { rank: 61, place: "any" },
  blur: { rank: 62, place: "any" },
  modulate: { rank: 63, place: "any" },
  sharpen: { rank: 64, place: "any" },
  composite: { rank: 70, place: "first" },
  normalise: { rank: 80, place: "any" },
  clahe: { rank: 81, place: "any" },
  tint: { rank: 82, place: "any" },
  negate: { rank: 83, place: "any" },
};

/** The steps grouped into stages, each one libvips pipeline. */
export function stagesOf(steps: Step[]): Step[][] {
  const stages: Step[][] = [];
  let current: Step[] = [];
  for (const step of steps) {
    const { rank, place } = placement[step.op.case];
    const last = current.at(-1);
    const fits =
      last !== undefined &&
      place === "any" &&
      placement[last.op.case].place !== "alone" &&
      rank > placement[last.op.case].rank;
    if (!fits && current.length > 0) {
      stages.push(current);
      current = [];
    }
    current.push(step);
  }
  if (current.length > 0) stages.push(current);
  return stages;
}

/** Largest side any step may ask for, before the pixel limit is applied. */
const maxSide = 100_000;

const colourPattern = /^(#[0-9a-f]{3}|#[0-9a-f]{4}|#[0-9a-f]{6}|#[0-9a-f]{8}|[a-z]{3,30})$/i;

/** Checks a colour field (`#rgb`, `#rrggbb`, `#rrggbbaa` or a CSS name); empty is the default. */
function checkColour(value: string, field: string) {
  if (value === "") return;
  let ok = colourPattern.test(value);
  if (ok) {
    try {
      sharp().flatten({ background: value });
    } catch {
      ok = false;
    }
  }
  check(ok, field, `"${value.slice(0, 40)}" is not a colour: #rgb, #rrggbb, #rrggbbaa or a CSS colour name`);
}

const inRange = (v: number, lo: number, hi: number) => Number.isFinite(v) && v >= lo && v <= hi;

/** Checks every operation of a request before any image is read; answers them as steps. */
export function checkOperations(operations: Operation[], limits: ImageLimits): Step[] {
  const count = operations.reduce(
    (n, o) => n + 1 + (o.operation.case === "composite" ? o.operation.value.layers.length : 0),
    0,
  );
  check(
    count <= limits.maxOperations,
    "operations",
    `has ${count} operations (layers counted); at most ${limits.maxOperations} are run in one call (the operator's limit)`,
  );
  return operations.map((o, index) => {
    const op = o.operation;
    check(op.case !== undefined, `operations[${index}]`, "names no operation (resize, crop, blur, ...)");
    const field = `operations[${index}].${op.case}`;
    checkOne(op, field);
    return { op, index, field };
  });
}

function checkOne(op: Step["op"], f: string) {
  switch (op.case) {
    case "resize": {
      const r = op.value;
      check(r.width > 0 || r.height > 0, `${f}.width`, "width or height is required");
      const dpr = r.devicePixelRatio || 1;
      check(inRange(dpr, 1, 8), `${f}.device_pixel_ratio`, `must be from 1 to 8, not ${r.devicePixelRatio}`);
      check(r.width * dpr <= maxSide, `${f}.width`, `must be at most ${maxSide} pixels (device pixel ratio counted)`);
      check(r.height * dpr <= maxSide, `${f}.height`, `must be at most ${maxSide} pixels (device pixel ratio counted)`);
      check(r.fit <= Fit.OUTSIDE, `${f}.fit`, `${r.fit} is not a fit`);
      check(r.kernel <= Kernel.MKS2021, `${f}.kernel`, `${r.kernel} is not a kernel`);
      check(r.gravity <= Gravity.ENTROPY, `${f}.gravity`, `${r.gravity} is not a gravity`);
      const cover = r.fit === Fit.UNSPECIFIED || r.fit === Fit.COVER;
      check(
        cover || r.gravity < Gravity.ATTENTION,
        `${f}.gravity`,
        "smart gravities (attention, entropy) choose a crop: they go with FIT_COVER",
      );
      if (r.focus) {
        check(cover, `${f}.focus`, "a focus point chooses a crop: it goes with FIT_COVER");
        check(r.gravity === Gravity.UNSPECIFIED, `${f}.focus`, "give a focus point or a gravity, not both");
        check(inRange(r.focus.x, 0, 1), `${f}.focus.x`, "must be from 0 to 1");
        check(inRange(r.focus.y, 0, 1), `${f}.focus.y`, "must be from 0 to 1");
      }
      checkColour(r.background, `${f}.background`);
      return;
    }
    case "crop":
      check(op.value.width > 0, `${f}.width`, "must be at least 1");
      check(op.value.height > 0, `${f}.height`, "must be at least 1");
      return;
    case "extend": {
      const e = op.value;
      for (const side of ["top", "bottom", "left", "right"] as const)
        check(e[side] <= maxSide, `${f}.${side}`, `must be at most ${maxSide} pixels`);
      check(e.with <= ExtendWith.MIRROR, `${f}.with`, `${e.with} is not a way to extend`);
      checkColour(e.background, `${f}.background`);
      return;
    }
    case "trim":
      check(inRange(op.value.threshold, 0, 255), `${f}.threshold`, "must be from 0 to 255");
      checkColour(op.value.background, `${f}.background`);
      return;
    case "rotate":
      check(inRange(op.value.angle, -360, 360), `${f}.angle`, "must be from -360 to 360 degrees");
      checkColour(op.value.background, `${f}.background`);
      return;
    case "blur":
      check(
        op.value.sigma === 0 || inRange(op.value.sigma, 0.3, 1000),
        `${f}.sigma`,
        "must be from 0.3 to 1000 (or 0: a fast mild blur)",
      );
      return;
    case "sharpen": {
      const s = op.value;
      check(s.sigma === 0 || inRange(s.sigma, 0.000001, 10), `${f}.sigma`, "must be from 0.000001 to 10");
      check(s.flat === undefined || inRange(s.flat, 0, 1_000_000), `${f}.flat`, "must be from 0 to 1000000");
      check(s.jagged === undefined || inRange(s.jagged, 0, 1_000_000), `${f}.jagged`, "must be from 0 to 1000000");
      return;
    }
    case "median": {
      const size = op.value.size || 3;
      check(size % 2 === 1 && size >= 3 && size <= 15, `${f}.size`, "must be odd, from 3 to 15");
      return;
    }
    case "gamma": {
      const g = op.value.gamma || 2.2;
      check(inRange(g, 1, 3), `${f}.gamma`, "must be from 1 to 3");
      check(op.value.gammaOut === 0 || inRange(op.value.gammaOut, 1, 3), `${f}.gamma_out`, "must be from 1 to 3");
      return;
    }
    case "normalise": {
      const lower = op.value.lower ?? 1;
      const upper = op.value.upper ?? 99;
      check(inRange(lower, 0, 99), `${f}.lower`, "must be from 0 to 99");
      check(inRange(upper, 1, 100), `${f}.upper`, "must be from 1 to 100");
      check(lower < upper, `${f}.lower`, "must be below upper");
      return;
    }
    case "clahe":
      check(inRange(op.value.width, 1, 10_000), `${f}.width`, "must be from 1 to 10000");
      check(inRange(op.value.height, 1, 10_000), `${f}.height`, "must be from 1 to 10000");
      check((op.value.maxSlope ?? 3) <= 100, `${f}.max_slope`, "must be from 0 to 100");
      return;
    case "modulate": {
      const m = op.value;
      check(m.brightness === undefined || inRange(m.brightness, 0, 100), `${f}.brightness`, "must be from 0 to 100");
      check(m.saturation === undefined || inRange(m.saturation, 0, 100), `${f}.saturation`, "must be from 0 to 100");
      check(inRange(m.hue, -3600, 3600), `${f}.hue`, "must be from -3600 to 3600 degrees");
      check(inRange(m.lightness, -100, 100), `${f}.lightness`, "must be from -100 to 100");
      return;
    }
    case "tint":
      check(op.value.color !== "", `${f}.color`, "is required");
      checkColour(op.value.color, `${f}.color`);
      return;
    case "threshold":
      check((op.value.value ?? 128) <= 255, `${f}.value`, "must be from 0 to 255");
      return;
    case "flatten":
      checkColour(op.value.background, `${f}.background`);
      return;
    case "composite": {
      const layers = op.value.layers;
      check(layers.length >= 1 && layers.length <= 16, `${f}.layers`, `has ${layers.length} layers; 1 to 16 are drawn`);
      for (const [j, layer] of layers.entries()) checkLayer(layer, `${f}.layers[${j}]`);
      return;
    }
    case "flip":
    case "flop":
    case "grayscale":
    case "negate":
      return;
  }
}

function checkLayer(layer: Layer, f: string) {
  check(layer.content.case !== undefined, f, "needs an image or a text");
  check(layer.gravity < Gravity.ATTENTION, `${f}.gravity`, "a layer is placed by a compass gravity, not a smart one");
  check(
    (layer.left === undefined) === (layer.top === undefined),
    `${f}.${layer.left === undefined ? "left" : "top"}`,
    "an offset needs both left and top",
  );
  check(layer.opacity === undefined || inRange(layer.opacity, 0, 1), `${f}.opacity`, "must be from 0 to 1");
  check(layer.scale === 0 || inRange(layer.scale, 0.01, 1), `${f}.scale`, "must be from 0.01 to 1");
  check(layer.blend <= Blend.DIFFERENCE, `${f}.blend`, `${layer.blend} is not a blend mode`);
  if (layer.content.case === "text") {
    const t = layer.content.value;
    check(t.text.trim() !== "", `${f}.text.text`, "is required");
    check(t.text.length <= 1000, `${f}.text.text`, "must be at most 1000 characters");
    check(t.size === 0 || inRange(t.size, 4, 1000), `${f}.text.size`, "must be from 4 to 1000 pixels");
    check(t.wrapWidth <= maxSide, `${f}.text.wrap_width`, `must be at most ${maxSide} pixels`);
    check(/^[\w .,-]{0,100}$/.test(t.font), `${f}.text.font`, "must be a font family name (letters, digits, spaces)");
    checkColour(t.color, `${f}.text.color`);
  }
}

/** The size an operation leaves at most, from the size it meets (exact for all but trim and resize fits that round). */
export function sizeAfter(op: Step["op"], size: Size): Size {
  switch (op.case) {
    case "resize": {
      const r = op.value;
      const dpr = r.devicePixelRatio || 1;
      const [w, h] = [Math.round(r.width * dpr), Math.round(r.height * dpr)];
      const ratio = size.width / size.height;
      if (w === 0) return { ...size, width: Math.max(1, Math.round(h * ratio)), height: h };
      if (h === 0) return { ...size, width: w, height: Math.max(1, Math.round(w / ratio)) };
      if (r.fit === Fit.INSIDE || r.fit === Fit.OUTSIDE) {
        const scale = (r.fit === Fit.INSIDE ? Math.min : Math.max)(w / size.width, h / size.height);
        return { ...size, width: Math.ceil(size.width * scale), height: Math.ceil(size.height * scale) };
      }
      return { ...size, width: w, height: h };
    }
    case "crop":
      return { ...size, width: op.value.width, height: op.value.height };
    case "extend": {
      const e = op.value;
      return { ...size, width: size.width + e.left + e.right, height: size.height + e.top + e.bottom };
    }
    case "rotate": {
      const a = (op.value.angle * Math.PI) / 180;
      const [c, s] = [Math.abs(Math.cos(a)), Math.abs(Math.sin(a))];
      return {
        ...size,
        width: Math.ceil(size.width * c + size.height * s - 1e-9),
        height: Math.ceil(size.width * s + size.height * c - 1e-9),
      };
    }
    default:
      return size;
  }
}

/** Checks a size against the output limit, naming the step that would make it. */
export function checkSize(size: Size, field: string, limits: ImageLimits) {
  const pixels = size.width * size.height * size.frames;
  check(
    size.width <= maxSide && size.height <= maxSide && pixels <= limits.maxOutputPixels,
    field,
    `would make an image of ${size.width} × ${size.height}${size.frames > 1 ? ` × ${size.frames} frames` : ""}; at most ${limits.maxOutputPixels / 1e6} megapixels are made (the operator's limit)`,
  );
}

const gravityNames: Record<number, string> = {
  [Gravity.UNSPECIFIED]: "centre",
  [Gravity.CENTER]: "centre",
  [Gravity.NORTH]: "north",
  [Gravity.NORTH_EAST]: "northeast",
  [Gravity.EAST]: "east",
  [Gravity.SOUTH_EAST]: "southeast",
  [Gravity.SOUTH]: "south",
  [Gravity.SOUTH_WEST]: "southwest",
  [Gravity.WEST]: "west",
  [Gravity.NORTH_WEST]: "northwest",
  [Gravity.ATTENTION]: "attention",
  [Gravity.ENTROPY]: "entropy",
};
const fitNames = {
  [Fit.UNSPECIFIED]: "cover",
  [Fit.COVER]: "cover",
  [Fit.CONTAIN]: "contain",
  [Fit.FILL]: "fill",
  [Fit.INSIDE]: "inside",
  [Fit.OUTSIDE]: "outside",
} as const;
const kernelNames = [
  "lanczos3",
  "nearest",
  "linear",
  "cubic",
  "mitchell",
  "lanczos2",
  "lanczos3",
  "mks2013",
  "mks2021",
] as const;
const extendNames = ["background", "background", "copy", "repeat", "mirror"] as const;
const blendNames = [
  "over",
  "over",
  "multiply",
  "screen",
  "overlay",
  "darken",
  "lighten",
  "soft-light",
  "hard-light",
  "difference",
] as const;
const transparent = { r: 0, g: 0, b: 0, alpha: 0 };
const colour = (value: string, fallback: string | typeof transparent) => (value === "" ? fallback : value);

/** A layer ready for sharp's composite: its pixels, and where they go. */
export type PreparedLayer = OverlayOptions;

/**
 * A layer's image for `prepareLayers`, read and checked like any source beforehand: its pipeline
 * and the size it shows (upright).
 */
export type LayerImage = (layer: Layer) => { image: Sharp; width: number; height: number };

/**
 * The layers of a composite as sharp takes them, for an image of `size`: each decoded or drawn,
 * scaled (by `scale`, and down to fit the image), given its opacity, and placed.
 */
export async function prepareLayers(
  step: Step & { op: { case: "composite" } },
  size: Size,
  o: { open: LayerImage; limits: ImageLimits; timeoutSeconds: number },
): Promise<PreparedLayer[]> {
  return Promise.all(
    step.op.value.layers.map(async (layer, j) => {
      const field = `${step.field}.layers[${j}]`;
      // An image's size is known from its header; text's only once it is drawn.
      let { image, width, height } =
        layer.content.case === "text" ? await drawText(layer.content.value, field, o.limits) : o.open(layer);
      image = image.timeout({ seconds: o.timeoutSeconds });
      const wanted = layer.scale > 0 ? Math.max(1, Math.round(size.width * layer.scale)) : width;
      const scale = Math.min(wanted / width, size.width / width, size.height / height);
      if (scale !== 1) {
        [width, height] = [Math.max(1, Math.floor(width * scale)), Math.max(1, Math.floor(height * scale))];
        image = image.resize(width, height, { fit: "fill" });
      }
      image = image.toColourspace("srgb").ensureAlpha();
      if (layer.opacity !== undefined && layer.opacity < 1)
        image = image.linear([1, 1, 1, layer.opacity], [0, 0, 0, 0]);
      const input = await image.png({ compressionLevel: 0 }).toBuffer();
      const placed: PreparedLayer = { input, tile: layer.tile, blend: blendNames[layer.blend] };
      if (layer.left !== undefined && layer.top !== undefined)
        Object.assign(placed, { left: layer.left, top: layer.top });
      else placed.gravity = gravityNames[layer.gravity];
      return placed;
    }),
  );
}

const escapeMarkup = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);

/** Text drawn by Pango, bounded in size before it is drawn, and the size it came out. */
async function drawText(
  t: TextLayer,
  field: string,
  limits: ImageLimits,
): Promise<{ image: Sharp; width: number; height: number }> {
  const size = t.size || 24;
  // A glyph's box is at most about size × 1.5 size: refuse text whose box could pass the limit.
  const longest = Math.max(...t.text.split("\n").map((l) => l.length));
  const lines = t.text.split("\n").length;
  const width = t.wrapWidth > 0 ? Math.min(t.wrapWidth, longest * size) : longest * size;
  const height = (t.wrapWidth > 0 ? Math.ceil((longest * size) / t.wrapWidth) + lines : lines) * size * 1.5;
  check(
    width * height <= limits.maxOutputPixels,
    `${field}.text.size`,
    `the text at ${size} pixels could cover ${Math.round((width * height) / 1e6)} megapixels; at most ${limits.maxOutputPixels / 1e6} are drawn`,
  );
  const font = `${t.font || "sans"}${t.bold ? " bold" : ""} ${size}px`;
  const drawn = await sharp({
    text: {
      text: `<span foreground="${escapeMarkup(t.color || "white")}">${escapeMarkup(t.text)}</span>`,
      font,
      rgba: true,
      dpi: 72,
      width: t.wrapWidth || undefined,
      wrap: "word",
    },
    limitInputPixels: limits.maxOutputPixels,
  })
    .png({ compressionLevel: 0 })
    .toBuffer({ resolveWithObject: true });
  const image = sharp(drawn.data, { limitInputPixels: limits.maxOutputPixels });
  return { image, width: drawn.info.width, height: drawn.info.height };
}

/**
 * Applies one stage's steps to a pipeline; `size` is the exact size the stage begins with. What
 * sharp refuses as it is set up (before any pixel is touched) is bad input, named by its step.
 */
export function applyStage(image: Sharp, stage: Step[], size: Size, layers: PreparedLayer[] | undefined): Sharp {
  let at = size;
  for (const step of stage) {
    try {
      image = applyOne(image, step, at, layers);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      throw invalidArgument(step.field, (err as Error).message, err);
    }
    at = sizeAfter(step.op, at);
  }
  return image;
}

/** An options object without its undefined entries (sharp reads a key that is present as set). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function applyOne(image: Sharp, step: Step, size: Size, layers: PreparedLayer[] | undefined): Sharp {
  const op = step.op;
  switch (op.case) {
    case "resize": {
      const r = op.value;
      const dpr = r.devicePixelRatio || 1;
      const [width, height] = [Math.round(r.width * dpr) || undefined, Math.round(r.height * dpr) || undefined];
      const kernel = kernelNames[r.kernel];
      if (r.focus && width && height) return focusCrop(image, size, { width, height, focus: r.focus, kernel, r });
      return image.resize({
        width,
        height,
        fit: fitNames[r.fit as keyof typeof fitNames],
        position: gravityNames[r.gravity],
        kernel,
        withoutEnlargement: r.withoutEnlargement,
        withoutReduction: r.withoutReduction,
        background: colour(r.background, transparent),
      });
    }
    case "crop": {
      const c = op.value;
      check(
        c.left + c.width <= size.width && c.top + c.height <= size.height,
        step.field,
        `${c.width} × ${c.height} at (${c.left}, ${c.top}) is outside the image, which is ${size.width} × ${size.height} at this step`,
      );
      return image.extract({ left: c.left, top: c.top, width: c.width, height: c.height });
    }
    case "extend": {
      const e = op.value;
      return image.extend({
        top: e.top,
        bottom: e.bottom,
        left: e.left,
        right: e.right,
        background: colour(e.background, transparent),
        extendWith: extendNames[e.with],
      });
    }
    case "trim":
      return image.trim(
        defined({
          background: op.value.background || undefined,
          threshold: op.value.threshold || undefined,
          lineArt: op.value.lineArt,
        }),
      );
    case "rotate":
      return image.rotate(op.value.angle, { background: colour(op.value.background, transparent) });
    case "flip":
      return image.flip();
    case "flop":
      return image.flop();
    case "blur":
      return op.value.sigma === 0 ? image.blur() : image.blur(op.value.sigma);
    case "sharpen":
      return op.value.sigma === 0
        ? image.sharpen()
        : image.sharpen(defined({ sigma: op.value.sigma, m1: op.value.flat, m2: op.value.jagged }));
    case "median":
      return image.median(op.value.size || 3);
    case "gamma":
      return image.gamma(op.value.gamma || 2.2, op.value.gammaOut || undefined);
    case "negate":
      return image.negate({ alpha: op.value.alpha });
    case "normalise":
      return image.normalise(defined({ lower: op.value.lower, upper: op.value.upper }));
    case "clahe":
      return image.clahe(defined({ width: op.value.width, height: op.value.height, maxSlope: op.value.maxSlope }));
    case "modulate":
      return image.modulate(
        defined({
          brightness: op.value.brightness,
          saturation: op.value.saturation,
          hue: Math.round(op.value.hue),
          lightness: op.value.lightness,
        }),
      );
    case "tint":
      return image.tint(op.value.color);
    case "grayscale":
      return image.grayscale();
    case "threshold":
      return image.threshold(op.value.value ?? 128, { greyscale: !op.value.keepColor });
    case "flatten":
      return image.flatten({ background: colour(op.value.background, "#ffffff") });
    case "composite":
      return image.composite(layers ?? []);
  }
}

/** Cover to `width` × `height`, keeping the focus point as near the centre as the crop allows. */
function focusCrop(
  image: Sharp,
  size: Size,
  o: {
    width: number;
    height: number;
    focus: { x: number; y: number };
    kernel: string;
    r: { withoutEnlargement: boolean };
  },
): Sharp {
  let scale = Math.max(o.width / size.width, o.height / size.height);
  if (o.r.withoutEnlargement) scale = Math.min(scale, 1);
  const [sw, sh] = [Math.max(1, Math.round(size.width * scale)), Math.max(1, Math.round(size.height * scale))];
  const [w, h] = [Math.min(o.width, sw), Math.min(o.height, sh)];
  const clamp = (v: number, hi: number) => Math.min(Math.max(0, Math.round(v)), hi);
  const left = clamp(o.focus.x * sw - w / 2, sw - w);
  const top = clamp(o.focus.y * sh - h / 2, sh - h);
  const resized =
    sw === size.width && sh === size.height ? image : image.resize(sw, sh, { fit: "fill", kernel: o.kernel as never });
  return resized.extract({ left, top, width: w, height: h });
}
