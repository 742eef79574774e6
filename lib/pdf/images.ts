/**
 * Images going into PDFs, checked and normalised by sharp in the service before a sandbox thread
 * sees them: the size read from the header first (a 50,000 × 50,000 image is refused without
 * decoding it), then JPEG kept as it is and everything else made PNG, which pdf-lib embeds.
 */
import sharp, { type Metadata } from "sharp";
import { check, invalidArgument } from "#runtime/errors.js";

/** Largest image put into a PDF: 50 megapixels. */
export const maxImagePixels = 50_000_000;

const readable = new Set(["png", "jpeg", "tiff", "webp", "gif"]);

/** An image ready for pdf-lib, with its size in pixels and points. */
export interface Normalised {
  data: Uint8Array;
  format: "png" | "jpeg";
  width: number;
  height: number;
  /** Its size at its own resolution (72 dpi when it does not say), in points. */
  points: { width: number; height: number };
}

/**
 * Reads the header; refuses what is not an image or is larger than `maxPixels` (a page of a
 * multi-page TIFF counts alone), naming `field`. Nothing is decoded.
 */
export async function imageHeader(data: Uint8Array, field: string, maxPixels = maxImagePixels): Promise<Metadata> {
  let meta: Metadata;
  try {
    meta = await sharp(data, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw invalidArgument(field, "is not an image (PNG, JPEG, TIFF, WebP or GIF)", err);
  }
  check(
    readable.has(meta.format ?? ""),
    field,
    `is ${meta.format ?? "an unknown format"}; PNG, JPEG, TIFF, WebP or GIF are read`,
  );
  const [w, h] = [meta.width ?? 0, meta.pageHeight ?? meta.height ?? 0];
  check(w > 0 && h > 0, field, "has no pixels");
  check(
    w * h <= maxPixels,
    field,
    `is ${w} × ${h} pixels; at most ${maxPixels / 1e6} megapixels are read: scale it down`,
  );
  return meta;
}

/** The image as pdf-lib takes it. */
export async function normaliseImage(data: Uint8Array, field: string): Promise<Normalised> {
  const meta = await imageHeader(data, field);
  const keep = meta.format === "jpeg" && (meta.channels === 3 || meta.channels === 1) && meta.orientation === undefined;
  let out: Buffer;
  let info: { width: number; height: number };
  try {
    if (keep) {
      out = Buffer.from(data);
      info = { width: meta.width!, height: meta.height! };
    } else {
      const r = await sharp(data, { limitInputPixels: maxImagePixels, failOn: "truncated" })
        .autoOrient()
        .png()
        .toBuffer({ resolveWithObject: true });
      out = r.data;
      info = r.info;
    }
  } catch (err) {
    throw invalidArgument(field, `cannot be decoded: ${(err as Error).message}`, err);
  }
  const dpi = meta.density && meta.density >= 36 && meta.density <= 2400 ? meta.density : 72;
  return {
    // A copy with a buffer of its own: pdf-lib reads JPEGs from the start of the buffer, not the view.
    data: new Uint8Array(out),
    format: keep ? "jpeg" : "png",
    width: info.width,
    height: info.height,
    points: { width: (info.width * 72) / dpi, height: (info.height * 72) / dpi },
  };
}
