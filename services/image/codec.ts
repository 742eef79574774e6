/**
 * Images in and out: a source checked from its header before anything is decoded (format, bytes,
 * pixels of every frame, frames), opened for sharp with the pixel bound libvips enforces itself;
 * and the encoder options of each output format, checked against what the format takes.
 */
import sharp, { type Metadata, type Sharp, type SharpOptions } from "sharp";
import { ChromaSubsampling, ImageFormat } from "#gen/flowforge/image/v1/image_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { ImageLimits } from "./config.js";

/** A source image, checked from its header. */
export interface Source {
  data: Uint8Array;
  meta: Metadata;
  format: ImageFormat;
  /** Frames (GIF, WebP) or pages (TIFF); 1 for a still image. */
  frames: number;
  /** Width and height of one frame as stored. */
  width: number;
  height: number;
  /** The request field it came from, for refusals (`image`, `operations[2].composite.layers[0].image`). */
  field: string;
}

const readableFormats = "JPEG, PNG, WebP, AVIF, GIF, TIFF, SVG or HEIF";

/** The format sharp reports, as the contract's enum (AVIF is HEIF with AV1 inside). */
function formatOf(meta: Metadata): ImageFormat {
  switch (meta.format) {
    case "jpeg":
      return ImageFormat.JPEG;
    case "png":
      return ImageFormat.PNG;
    case "webp":
      return ImageFormat.WEBP;
    case "gif":
      return ImageFormat.GIF;
    case "tiff":
      return ImageFormat.TIFF;
    case "svg":
      return ImageFormat.SVG;
    case "heif":
      return meta.compression === "av1" ? ImageFormat.AVIF : ImageFormat.HEIF;
    default:
      return ImageFormat.UNSPECIFIED;
  }
}

/**
 * Reads a source's header and refuses, naming `field`, what is not an image we read, is larger
 * than the limits in bytes, pixels (every frame counted) or frames. Nothing is decoded.
 */
export async function openSource(data: Uint8Array, field: string, limits: ImageLimits): Promise<Source> {
  check(
    data.length <= limits.maxInputBytes,
    field,
    `is ${data.length} bytes; at most ${limits.maxInputBytes} are read (the operator's limit)`,
  );
  let meta: Metadata;
  try {
    meta = await sharp(data, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw invalidArgument(field, `is not an image (${readableFormats} are read)`, err);
  }
  const format = formatOf(meta);
  check(
    format !== ImageFormat.UNSPECIFIED,
    field,
    `is ${meta.format ?? "of an unknown format"}; ${readableFormats} are read`,
  );
  const frames = Math.max(1, meta.pages ?? 1);
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  check(width > 0 && height > 0, field, "has no pixels");
  check(
    frames <= limits.maxFrames,
    field,
    `has ${frames} ${format === ImageFormat.TIFF ? "pages" : "frames"}; at most ${limits.maxFrames} are read (the operator's limit)`,
  );
  const pixels = width * height;
  check(
    pixels <= limits.maxPixels,
    field,
    `is ${width} × ${height} pixels; at most ${limits.maxPixels / 1e6} megapixels are read (the operator's limit): scale it down first`,
  );
  return { data, meta, format, frames, width, height, field };
}

/** Whether a format can hold an animation. */
export const animatable = (format: ImageFormat) => format === ImageFormat.GIF || format === ImageFormat.WEBP;

/**
 * A sharp pipeline of the source: every frame of an animation when `animated` (libvips refuses
 * more than the pixel limit across them; the plan has checked it already), else the first page;
 * turned upright from its EXIF orientation unless told not to; decoding stops at the first error
 * (a truncated file is refused, not padded).
 */
export function decode(source: Source, limits: ImageLimits, o: { animated: boolean; orient: boolean }): Sharp {
  const options: SharpOptions = {
    limitInputPixels: limits.maxPixels,
    failOn: "error",
    sequentialRead: true,
    ...(o.animated ? { animated: true } : { pages: 1 }),
  };
  const image = sharp(source.data, options);
  return o.orient ? image.autoOrient() : image;
}

/** The width and height a source shows once turned upright from its EXIF orientation. */
export function displaySize(meta: Metadata, width: number, height: number): { width: number; height: number } {
  return (meta.orientation ?? 1) >= 5 ? { width: height, height: width } : { width, height };
}

/** What an encoder is asked for. */
export interface EncodeAsk {
  format: ImageFormat;
  quality: number;
  /** Undefined: the format's default. */
  effort?: number;
  lossless: boolean;
  progressive: boolean;
  chromaSubsampling: ChromaSubsampling;
}

/** The formats written: each one's media type and file name extension. */
export const written: Partial<Record<ImageFormat, { mediaType: string; extension: string }>> = {
  [ImageFormat.JPEG]: { mediaType: "image/jpeg", extension: "jpg" },
  [ImageFormat.PNG]: { mediaType: "image/png", extension: "png" },
  [ImageFormat.WEBP]: { mediaType: "image/webp", extension: "webp" },
  [ImageFormat.AVIF]: { mediaType: "image/avif", extension: "avif" },
  [ImageFormat.GIF]: { mediaType: "image/gif", extension: "gif" },
  [ImageFormat.TIFF]: { mediaType: "image/tiff", extension: "tiff" },
};

/** Effort ranges of the formats that take one. */
const effortRange: Partial<Record<ImageFormat, [number, number]>> = {
  [ImageFormat.WEBP]: [0, 6],
  [ImageFormat.AVIF]: [0, 9],
  [ImageFormat.PNG]: [1, 10],
  [ImageFormat.GIF]: [1, 10],
};

/** The format written: the one asked for, else the source's where it can be written, else PNG. */
export function outputFormat(asked: ImageFormat, source: ImageFormat): ImageFormat {
  if (asked === ImageFormat.UNSPECIFIED) return written[source] ? source : ImageFormat.PNG;
  check(
    asked !== ImageFormat.SVG && asked !== ImageFormat.HEIF,
    "format",
    `${ImageFormat[asked]} is read, not written; JPEG, PNG, WEBP, AVIF, GIF and TIFF are written`,
  );
  check(written[asked] !== undefined, "format", `${asked} is not an image format`);
  return asked;
}

/** Checks an encoder ask against what its format takes, naming the field that does not fit. */
export function checkEncode(ask: EncodeAsk) {
  const name = ImageFormat[ask.format];
  check(ask.quality <= 100, "quality", `must be from 1 to 100, not ${ask.quality}`);
  const range = effortRange[ask.format];
  if (ask.effort !== undefined) {
    check(range !== undefined, "effort", `${name} takes no effort setting (WEBP, AVIF, PNG and GIF do)`);
    check(
      ask.effort >= range[0] && ask.effort <= range[1],
      "effort",
      `must be from ${range[0]} to ${range[1]} for ${name}, not ${ask.effort}`,
    );
  }
  check(
    !ask.lossless || ask.format === ImageFormat.WEBP || ask.format === ImageFormat.AVIF,
    "lossless",
    `${name} has no lossless mode; WEBP and AVIF do (PNG, GIF and TIFF are lossless already)`,
  );
  check(
    ask.chromaSubsampling <= ChromaSubsampling.CHROMA_SUBSAMPLING_444,
    "chroma_subsampling",
    `${ask.chromaSubsampling} is not a chroma subsampling`,
  );
}

/** Sets the encoder of `image` as asked; an animation keeps its frame delays and loop count. */
export function encode(image: Sharp, ask: EncodeAsk, animation?: { delay?: number[]; loop?: number }): Sharp {
  const quality = ask.quality || undefined;
  const effort = effortRange[ask.format] ? ask.effort : undefined;
  const chroma =
    ask.chromaSubsampling === ChromaSubsampling.CHROMA_SUBSAMPLING_444
      ? "4:4:4"
      : ask.chromaSubsampling === ChromaSubsampling.CHROMA_SUBSAMPLING_420
        ? "4:2:0"
        : undefined;
  const frames = animation ? { delay: animation.delay, loop: animation.loop } : {};
  switch (ask.format) {
    case ImageFormat.JPEG:
      return image.jpeg({ quality, progressive: ask.progressive, chromaSubsampling: chroma });
    case ImageFormat.PNG:
      return image.png({ progressive: ask.progressive, effort, quality, palette: quality !== undefined });
    case ImageFormat.WEBP:
      return image.webp({ quality, effort, lossless: ask.lossless, ...frames });
    case ImageFormat.AVIF:
      return image.avif({ quality, effort, lossless: ask.lossless, chromaSubsampling: chroma });
    case ImageFormat.GIF:
      return image.gif({ effort, progressive: ask.progressive, ...frames });
    case ImageFormat.TIFF:
      return image.tiff({ quality });
    default:
      throw invalidArgument("format", `${ask.format} is not written`);
  }
}
