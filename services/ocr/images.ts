/**
 * Images as the engines take them: each page of the file (every page of a TIFF, the first frame of
 * an animation) decoded by sharp (libvips, off the event loop), turned as its EXIF says, flattened
 * onto white (dark text on a transparent background would read as nothing) and encoded as PNG.
 * The dimensions are checked from the header before anything is decoded, so a small file that
 * claims 50,000 × 50,000 pixels is refused without allocating them.
 */
import sharp from "sharp";
import { check, invalidArgument } from "#runtime/errors.js";
import { imageHeader } from "#pdf/images.js";

/** Largest page read: 40 megapixels (A4 at 600 dpi is 35). */
export const maxPixels = 40_000_000;
/** Most pages read from one file. */
export const maxPages = 100;

/** A page ready to read. */
export interface PageImage {
  png: Uint8Array;
  width: number;
  height: number;
}

/**
 * The pages of an image file (every page of a TIFF): what is not an image, too big or has too
 * many pages is refused now, from its header, naming `field`; each page is decoded when it is
 * read (so the first is being read while the next is decoded, and a 100-page TIFF is never held
 * decoded whole), and a corrupt one is refused then.
 */
export async function imagePages(
  data: Uint8Array,
  field: string,
): Promise<{ count: number; decode(index: number): Promise<PageImage> }> {
  const meta = await imageHeader(data, field, maxPixels);
  const count = meta.format === "tiff" ? (meta.pages ?? 1) : 1;
  check(count <= maxPages, field, `has ${count} pages; at most ${maxPages} are read`);
  return { count, decode: (page) => toPng(data, field, { page }) };
}

/** Turns a PNG page clockwise (by any angle: corners a turn exposes are filled white). */
export async function turn(image: PageImage, degrees: number): Promise<PageImage> {
  if (degrees % 360 === 0) return image;
  return toPng(image.png, "image", { rotate: degrees });
}

/** Widest skew looked for, in degrees either way. */
const maxSkew = 6;

/**
 * The angle (degrees, clockwise positive) a page's lines slope by, found by projection profiles:
 * the dark pixels of a reduced copy are summed along rows at each candidate angle, and lines of
 * text give the sharpest profile (the largest sum of squared row-to-row differences) when the
 * angle matches their slope.
 */
export async function skewOf(image: PageImage): Promise<number> {
  const width = Math.min(800, image.width);
  const { data, info } = await sharp(image.png)
    .resize({ width })
    .greyscale()
    .threshold(160)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < info.height; y++)
    for (let x = 0; x < info.width; x++)
      if (data[y * info.width + x] === 0) {
        xs.push(x);
        ys.push(y);
      }
  if (xs.length < 100) return 0;
  const score = (degrees: number) => {
    const t = Math.tan((degrees * Math.PI) / 180);
    const rows = new Float64Array(info.height + info.width + 2);
    const offset = Math.ceil(info.width * Math.abs(t)) + 1;
    for (let i = 0; i < xs.length; i++) rows[Math.round(ys[i] - xs[i] * t) + offset]++;
    let sum = 0;
    for (let r = 1; r < rows.length; r++) sum += (rows[r] - rows[r - 1]) ** 2;
    return sum;
  };
  let best = 0;
  let bestScore = score(0);
  // Coarse, then fine around the best coarse angle.
  for (const [span, step] of [
    [maxSkew, 0.5],
    [0.5, 0.1],
  ]) {
    const around = best;
    for (let a = around - span; a <= around + span + 1e-9; a += step) {
      const sc = score(a);
      if (sc > bestScore * 1.0001) [best, bestScore] = [a, sc];
    }
  }
  return Math.abs(best) < 0.2 ? 0 : Math.round(best * 10) / 10;
}

/** A page with speckle removed (a 3 × 3 median filter). */
export const despeckle = (image: PageImage) => toPng(image.png, "image", { median: true });

async function toPng(
  data: Uint8Array,
  field: string,
  o: { page?: number; rotate?: number; median?: boolean },
): Promise<PageImage> {
  try {
    let img = sharp(data, { page: o.page, limitInputPixels: maxPixels, failOn: "truncated" });
    img = o.rotate === undefined ? img.autoOrient() : img.rotate(o.rotate, { background: "#ffffff" });
    if (o.median) img = img.median(3);
    const { data: png, info } = await img
      .flatten({ background: "#ffffff" })
      .png({ compressionLevel: 1 })
      .toBuffer({ resolveWithObject: true });
    return { png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength), width: info.width, height: info.height };
  } catch (err) {
    throw invalidArgument(field, `cannot be decoded: ${(err as Error).message}`, err);
  }
}
