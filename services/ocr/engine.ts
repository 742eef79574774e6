/**
 * What an OCR engine does for the service, whichever it is: read one page image (PNG) in the
 * languages asked for, answering Tesseract's text and TSV (and hOCR and a one-page searchable PDF
 * when asked), and tell which way up a page is. Both engines are Tesseract, so both answer the
 * same TSV, and the structure the service returns (blocks, lines, words, boxes) is read from it
 * here, once.
 */

/** What one page read answers. */
export interface PageRead {
  /** Tesseract's text: lines separated by newlines, paragraphs by blank lines. */
  text: string;
  /** Tesseract's TSV (level, page, block, paragraph, line, word, box, confidence, text). */
  tsv: string;
  /** The page as an hOCR document, when asked for. */
  hocr?: string;
  /** The page as a one-page PDF with an invisible text layer, when asked for. */
  pdf?: Uint8Array;
}

/** How a page is read. */
export interface ReadOptions {
  /** Tesseract language codes (eng, deu, ...), already checked against the engine's. */
  languages: string[];
  hocr: boolean;
  pdf: boolean;
  /** Ends the read early (the caller went away, or it ran past its time). */
  signal: AbortSignal;
}

/** An OCR engine. */
export interface OcrEngine {
  /** Its name in errors and logs. */
  readonly name: string;
  readonly version: string;
  /** The languages it has data for. */
  readonly languages: readonly string[];
  /** Pages it reads at once. */
  readonly concurrency: number;
  read(png: Uint8Array, options: ReadOptions): Promise<PageRead>;
  /**
   * Degrees to turn the page clockwise to make it upright (0, 90, 180 or 270); 0 when the page
   * has too little text to tell.
   */
  orientation(png: Uint8Array, signal: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

/** Thrown when a read is given up: the reason names what ran out. */
export class ReadAborted extends Error {}

/** Two-letter codes callers may use for the Tesseract ones. */
export const languageAliases: Record<string, string> = { en: "eng", de: "deu", fr: "fra", es: "spa" };

/** A rectangle in pixels from the image's top left. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A page's structure: flat lists, each item pointing at its parent by index. */
export interface Layout {
  blocks: { text: string; box: Box; confidence: number }[];
  lines: { block: number; text: string; box: Box; confidence: number }[];
  words: { line: number; text: string; box: Box; confidence: number }[];
  /** Mean word confidence, 0 to 100 (0 with no words). */
  confidence: number;
}

const mean = (values: number[]) => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);

/**
 * Blocks, lines and words from Tesseract's TSV. Empty lines and blocks (no words) are left out;
 * indices are within the page (the service shifts them when it joins pages).
 */
export function layoutOf(tsv: string): Layout {
  const layout: Layout = { blocks: [], lines: [], words: [], confidence: 0 };
  const blockOf = new Map<string, number>();
  const lineOf = new Map<string, number>();
  const wordConfidences: number[][] = [];
  const lineWords: number[][] = [];
  for (const row of tsv.split("\n")) {
    const c = row.split("\t");
    if (c.length < 12 || c[0] !== "5") continue; // level 5: a word
    const text = c.slice(11).join("\t").trim();
    if (text === "") continue;
    const [block, paragraph, line] = [c[2], c[3], c[4]];
    const box = { left: +c[6], top: +c[7], width: +c[8], height: +c[9] };
    const confidence = Math.max(0, +c[10]);
    let b = blockOf.get(block);
    if (b === undefined) {
      b = layout.blocks.push({ text: "", box: { ...box }, confidence: 0 }) - 1;
      blockOf.set(block, b);
      wordConfidences.push([]);
    }
    const lineKey = `${block}.${paragraph}.${line}`;
    let l = lineOf.get(lineKey);
    if (l === undefined) {
      l = layout.lines.push({ block: b, text: "", box: { ...box }, confidence: 0 }) - 1;
      lineOf.set(lineKey, l);
      lineWords.push([]);
    }
    layout.words.push({ line: l, text, box, confidence });
    lineWords[l].push(confidence);
    wordConfidences[b].push(confidence);
    layout.lines[l].text += layout.lines[l].text === "" ? text : ` ${text}`;
    layout.lines[l].box = union(layout.lines[l].box, box);
    layout.blocks[b].box = union(layout.blocks[b].box, box);
  }
  for (const [i, line] of layout.lines.entries()) {
    line.confidence = mean(lineWords[i]);
    const block = layout.blocks[line.block];
    block.text += block.text === "" ? line.text : `\n${line.text}`;
  }
  for (const [i, block] of layout.blocks.entries()) block.confidence = mean(wordConfidences[i]);
  layout.confidence = mean(layout.words.map((w) => w.confidence));
  return layout;
}

function union(a: Box, b: Box): Box {
  const left = Math.min(a.left, b.left);
  const top = Math.min(a.top, b.top);
  return {
    left,
    top,
    width: Math.max(a.left + a.width, b.left + b.width) - left,
    height: Math.max(a.top + a.height, b.top + b.height) - top,
  };
}

/** Wraps an hOCR page `<div class='ocr_page'>` (what tesseract.js answers) in the document the native engine writes. */
export function hocrDocument(page: string, engine: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title></title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name='ocr-system' content='${engine}'/>
  <meta name='ocr-capabilities' content='ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf'/>
 </head>
 <body>
${page.trimEnd()}
 </body>
</html>
`;
}
