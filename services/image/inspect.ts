/**
 * What an image says of itself and what its pixels say: the header (sharp), EXIF and the ICC
 * profile's name (exifr), statistics (libvips), BlurHash and ThumbHash placeholders (their
 * reference libraries) and a perceptual hash (sharp-phash). Pixels are decoded bounded like any
 * source, and placeholders and hashes work on a small copy.
 */
import { encode as blurhash } from "blurhash";
import exifr from "exifr";
import phashModule from "sharp-phash";
import distanceModule from "sharp-phash/distance.js";
import sharp, { type Sharp, type SharpOptions } from "sharp";
import { rgbaToThumbHash, thumbHashToDataURL } from "thumbhash";
import type { Color, Exif } from "#gen/flowforge/image/v1/image_pb.js";
import { decode, displaySize, type Source } from "./codec.js";
import type { ImageLimits } from "./config.js";

// sharp-phash is CommonJS whose typings declare a default export: its module is the function.
const phash = phashModule as unknown as (image: Buffer, options?: SharpOptions) => Promise<string>;
const phashDistance = distanceModule as unknown as (a: string, b: string) => number;

/** A colour as the contract carries it. */
export function colorOf(r: number, g: number, b: number): Omit<Color, "$typeName"> {
  const [red, green, blue] = [r, g, b].map((v) => Math.max(0, Math.min(255, Math.round(v))));
  const hex = `#${[red, green, blue].map((v) => v.toString(16).padStart(2, "0")).join("")}`;
  return { red, green, blue, hex };
}

/** The EXIF fields exifr reads (values left as the file says, dates unparsed). */
interface ExifTags {
  Make?: string;
  Model?: string;
  LensModel?: string;
  DateTimeOriginal?: string;
  CreateDate?: string;
  OffsetTimeOriginal?: string;
  ExposureTime?: number;
  FNumber?: number;
  ISO?: number;
  FocalLength?: number;
  Software?: string;
  Artist?: string;
  Copyright?: string;
  ImageDescription?: string;
  latitude?: number;
  longitude?: number;
  GPSAltitude?: number;
  GPSAltitudeRef?: number | Uint8Array;
  ProfileDescription?: string;
}

const text = (v: unknown) => (typeof v === "string" ? v.replace(/\0+$/, "").trim().slice(0, 1000) : "");
const number = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

/** `2024:05:01 12:34:56` as `2024-05-01T12:34:56` (with the offset where recorded); else as written. */
function exifDate(value: unknown, offset: unknown): string {
  const s = text(value);
  const m = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (!m) return s;
  const zone = /^[+-]\d{2}:\d{2}$/.test(text(offset)) ? text(offset) : "";
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${zone}`;
}

/** EXIF in fields and the ICC profile's description; empty when the file has neither (or they do not parse). */
export async function exifOf(data: Uint8Array): Promise<{ exif?: Omit<Exif, "$typeName">; iccName: string }> {
  let tags: ExifTags | undefined;
  try {
    tags = (await exifr.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
      tiff: true,
      exif: true,
      gps: true,
      icc: true,
      ifd1: false,
      interop: false,
      xmp: false,
      iptc: false,
      jfif: false,
      ihdr: false,
      reviveValues: false,
      translateValues: false,
    })) as ExifTags | undefined;
  } catch {
    tags = undefined; // a damaged EXIF block is reported as none, not as a bad image
  }
  if (!tags) return { iccName: "" };
  const iccName = text(tags.ProfileDescription);
  const hasExif = tags.Make !== undefined || tags.DateTimeOriginal !== undefined || tags.Model !== undefined;
  const below = tags.GPSAltitudeRef instanceof Uint8Array ? tags.GPSAltitudeRef[0] === 1 : tags.GPSAltitudeRef === 1;
  const gps =
    typeof tags.latitude === "number" && typeof tags.longitude === "number"
      ? {
          latitude: tags.latitude,
          longitude: tags.longitude,
          altitude: number(tags.GPSAltitude) * (below ? -1 : 1),
        }
      : undefined;
  if (!hasExif && !gps && tags.Software === undefined) return { iccName };
  return {
    iccName,
    exif: {
      make: text(tags.Make),
      model: text(tags.Model),
      lens: text(tags.LensModel),
      takenAt: exifDate(tags.DateTimeOriginal ?? tags.CreateDate, tags.OffsetTimeOriginal),
      exposureTime: number(tags.ExposureTime),
      fNumber: number(tags.FNumber),
      iso: Math.max(0, Math.round(number(tags.ISO))),
      focalLength: number(tags.FocalLength),
      software: text(tags.Software),
      artist: text(tags.Artist),
      copyright: text(tags.Copyright),
      description: text(tags.ImageDescription),
      gps: gps && { $typeName: "flowforge.image.v1.Gps", ...gps },
    },
  };
}

/** Statistics of an image's pixels (libvips' stats: entropy and sharpness of the grey image). */
export async function statisticsOf(image: Sharp) {
  const s = await image.stats();
  const [r, g, b] = s.channels.length >= 3 ? s.channels : [s.channels[0], s.channels[0], s.channels[0]];
  return {
    dominant: colorOf(s.dominant.r, s.dominant.g, s.dominant.b),
    average: colorOf(r.mean, g.mean, b.mean),
    entropy: s.entropy,
    sharpness: s.sharpness,
    opaque: s.isOpaque,
  };
}

/** A copy of the upright first frame, at most `side` pixels across, as RGBA. */
async function small(source: Source, limits: ImageLimits, side: number) {
  const { data, info } = await decode(source, limits, { animated: false, orient: true })
    .resize(side, side, { fit: "inside" })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { rgba: new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), ...info };
}

/** BlurHash, ThumbHash and the colours of a source. */
export async function placeholderOf(source: Source, limits: ImageLimits, components: { x: number; y: number }) {
  const copy = await small(source, limits, 100);
  const thumb = rgbaToThumbHash(copy.width, copy.height, copy.rgba);
  const pixels = Buffer.from(copy.rgba.buffer, copy.rgba.byteOffset, copy.rgba.byteLength);
  const stats = await statisticsOf(sharp(pixels, { raw: { width: copy.width, height: copy.height, channels: 4 } }));
  const shown = displaySize(source.meta, source.width, source.height);
  return {
    blurhash: blurhash(copy.rgba, copy.width, copy.height, components.x, components.y),
    thumbhash: Buffer.from(thumb).toString("base64"),
    thumbhashDataUrl: thumbHashToDataURL(thumb),
    average: stats.average,
    dominant: stats.dominant,
    width: shown.width,
    height: shown.height,
  };
}

/** The 64-bit perceptual hash of a source's upright first frame, as 16 hex digits. */
export async function perceptualHashOf(source: Source, limits: ImageLimits): Promise<string> {
  // sharp-phash reduces to 32 × 32 grey itself; it is handed a bounded 256-pixel copy.
  const copy = await small(source, limits, 256);
  const bits = await phash(Buffer.from(copy.rgba.buffer, copy.rgba.byteOffset, copy.rgba.byteLength), {
    raw: { width: copy.width, height: copy.height, channels: 4 },
  });
  return BigInt(`0b${bits}`).toString(16).padStart(16, "0");
}

/** Bits two hashes (16 hex digits each) differ in. */
export function hashDistance(a: string, b: string): number {
  const bits = (h: string) => BigInt(`0x${h}`).toString(2).padStart(64, "0");
  return phashDistance(bits(a), bits(b));
}
