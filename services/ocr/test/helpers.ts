/**
 * Test pages made with known text (sharp renders SVG text in DejaVu fonts), so what the engines
 * read can be scored: character error rate against the text drawn.
 */
import sharp from "sharp";
import { OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { inProcessClient } from "#test/support/in-process.js";
import { createOcrService, type OcrServiceOptions } from "../service.js";
import { bombPng } from "#test/support/png.js";

/** A typed client whose calls run the real handlers in-process. */
export const ocrClient = (options: OcrServiceOptions = {}) => inProcessClient(OcrService, createOcrService(options));

const xmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** How a page is drawn. */
export interface PageStyle {
  /** Pixels per line of text. @default 34 */
  fontSize?: number;
  /** Text colour. @default #000 */
  ink?: string;
  /** Background colour. @default #fff */
  paper?: string;
  /** Columns of `lines`, side by side. @default 1 */
  columns?: number;
  font?: string;
  /** Gap between columns, in characters. @default 6 */
  gutter?: number;
}

/** A PNG page with `lines` drawn from the top left (in columns when asked). */
export async function textPage(lines: string[], style: PageStyle = {}): Promise<Buffer> {
  const size = style.fontSize ?? 34;
  const columns = style.columns ?? 1;
  const perColumn = Math.ceil(lines.length / columns);
  // Columns with a gutter of about six characters, as a two-column page has.
  const columnWidth =
    Math.max(...lines.map((l) => l.length)) * size * 0.62 + (columns > 1 ? size * (style.gutter ?? 6) : 80);
  const width = Math.ceil(columnWidth * columns + 80);
  const height = Math.ceil(perColumn * size * 1.6 + 160);
  const text = lines
    .map((line, i) => {
      const [c, r] = [Math.floor(i / perColumn), i % perColumn];
      const x = 60 + c * columnWidth;
      const y = 100 + r * size * 1.6;
      return `<text x="${x}" y="${y}" font-family="${style.font ?? "DejaVu Sans"}" font-size="${size}" fill="${style.ink ?? "#000"}">${xmlText(line)}</text>`;
    })
    .join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${style.paper ?? "#fff"}"/>${text}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Salt-and-pepper noise over a share of the pixels (a fixed pattern: the same every run). */
export async function noisy(png: Buffer, share: number): Promise<Buffer> {
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let i = 0; i < data.length; i++) if (random() < share) data[i] = random() < 0.5 ? 0 : 255;
  return sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
    .png()
    .toBuffer();
}

/** Character error rate: edit distance between the texts (whitespace runs as one space) over the expected length. */
export function cer(expected: string, actual: string): number {
  const a = expected.replace(/\s+/g, " ").trim();
  const b = actual.replace(/\s+/g, " ").trim();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length] / a.length;
}

/**
 * A PNG whose header claims `width` × `height` pixels over a few bytes of data: what a
 * decompression bomb looks like before it is decoded.
 */
export const claimedPng = (width: number, height: number): Buffer => bombPng(width, height);
