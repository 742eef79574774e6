/**
 * OcrService on pages drawn with known text: what each engine reads is scored by character error
 * rate (CER) against what was drawn; the structure (lines, words, boxes) against where it was
 * drawn; and what it refuses, by code and field.
 */
import { Code } from "@connectrpc/connect";
import { PDFDocument, StandardFonts } from "pdf-lib";
import sharp from "sharp";
import { extractText } from "unpdf";
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { failure } from "#test/support/in-process.js";
import { probeTesseract } from "../tesseract-native.js";
import { cer, claimedPng, noisy, ocrClient, textPage } from "./helpers.js";

const { client, close } = ocrClient({ concurrency: 2 });
afterAll(() => close());

const clean = [
  "Invoice 2026-1147 for consulting services",
  "The quick brown fox jumps over the lazy dog.",
  "Payment is due within thirty days of receipt.",
  "Total amount due: 1,234.56 EUR including VAT.",
  "Questions? Write to billing@example.com today.",
];
const image = (data: Uint8Array) => ({ source: { case: "data" as const, value: data } });

// CI installs Debian's tesseract-ocr (FLOWFORGE_REQUIRE_TESSERACT=1 makes its absence a failure).
const native = probeTesseract("tesseract");
if (!native && process.env.FLOWFORGE_REQUIRE_TESSERACT === "1") throw new Error("tesseract is required here");
const engines = [
  ["tesseract.js", Engine.TESSERACT_JS],
  ...(native ? [["native tesseract", Engine.TESSERACT] as const] : []),
] as const;

describe.each(engines)("Recognize with %s", (_, engine) => {
  it("reads clean print at CER ≤ 1 %, with lines and words where they were drawn", async () => {
    const res = await client.recognize({ image: image(await textPage(clean)), engine });
    expect(res.engine).toBe(engine);
    expect(cer(clean.join("\n"), res.text)).toBeLessThanOrEqual(0.01);
    expect(res.lines.map((l) => l.text)).toHaveLength(clean.length);
    expect(res.confidence).toBeGreaterThan(80);
    // Line i is drawn with its baseline at y = 100 + i × 54.4 (34 px text): its box holds that.
    for (const [i, line] of res.lines.entries()) {
      expect(line.box!.top).toBeLessThan(100 + i * 54.4);
      expect(line.box!.top + line.box!.height).toBeGreaterThan(100 + i * 54.4 - 5);
      expect(line.box!.left).toBeGreaterThanOrEqual(55);
    }
    const fox = res.words.find((w) => w.text === "fox");
    expect(fox).toMatchObject({ page: 1, line: 1 });
    expect(fox!.confidence).toBeGreaterThan(80);
    // "fox" starts after "The quick brown " (16 of 44 characters of line 2).
    const lineBox = res.lines[1].box!;
    expect(fox!.box!.left).toBeGreaterThan(lineBox.left + lineBox.width * 0.3);
    expect(fox!.box!.left).toBeLessThan(lineBox.left + lineBox.width * 0.45);
    expect(res.words.filter((w) => w.line === 1).map((w) => w.text)).toEqual(clean[1].split(" "));
  });

  it("reads German, French and Spanish in their languages", async () => {
    const samples = [
      [["deu"], ["Größere Übungen für Straßenbahnfahrer", "Die Prüfung beginnt um neun Uhr früh."]],
      [["fr"], ["Le garçon a reçu une lettre très élégante.", "Où est la bibliothèque de l'université ?"]],
      [["spa"], ["El niño comió una piña en la mañana.", "¿Dónde está la estación de autobuses?"]],
    ] as const;
    for (const [languages, lines] of samples) {
      const res = await client.recognize({
        image: image(await textPage([...lines])),
        languages: [...languages],
        engine,
      });
      expect(cer(lines.join("\n"), res.text), `${languages}: ${res.text}`).toBeLessThanOrEqual(0.02);
    }
  });

  it("turns pages scanned sideways or upside down upright, and reads low-contrast and noisy pages", async () => {
    const page = await textPage(clean);
    for (const turned of [90, 180, 270]) {
      const res = await client.recognize({
        image: image(await sharp(page).rotate(turned).png().toBuffer()),
        engine,
        autoRotate: true,
      });
      expect(res.pages[0].rotation, `scanned turned ${turned}°`).toBe((360 - turned) % 360);
      expect(cer(clean.join("\n"), res.text), `turned ${turned}°`).toBeLessThanOrEqual(0.05);
    }
    const faint = await textPage(clean, { ink: "#a8a8a8", paper: "#d8d8d8" });
    expect(cer(clean.join("\n"), (await client.recognize({ image: image(faint), engine })).text)).toBeLessThanOrEqual(
      0.05,
    );
    const speckled = image(await noisy(page, 0.03));
    expect(
      cer(clean.join("\n"), (await client.recognize({ image: speckled, engine, denoise: true })).text),
    ).toBeLessThanOrEqual(0.05);
    const skewed = await sharp(page).rotate(3, { background: "#fff" }).png().toBuffer();
    const straightened = await client.recognize({ image: image(skewed), engine, autoRotate: true });
    expect(straightened.pages[0].skew).toBeCloseTo(3, 0);
    expect(cer(clean.join("\n"), straightened.text)).toBeLessThanOrEqual(0.05);
  });
});

describe("Recognize", () => {
  it("reads two columns column by column, and a table row by row", async () => {
    const words = "each column is read from top to bottom before the reader moves across the gutter to the next".split(
      " ",
    );
    const column = (from: number) =>
      Array.from({ length: 15 }, (_, i) => words.slice((from + i * 3) % 12, ((from + i * 3) % 12) + 5).join(" "));
    const [left, right] = [column(0), column(1)];
    const res = await client.recognize({ image: image(await textPage([...left, ...right], { columns: 2 })) });
    expect(res.blocks.length).toBeGreaterThanOrEqual(2);
    expect(cer([...left, ...right].join("\n"), res.text)).toBeLessThanOrEqual(0.02);

    const table = [
      "Item        Qty    Price",
      "Paper        12     4.50",
      "Toner         2    89.00",
      "Stapler       1    15.25",
    ];
    const read = await client.recognize({ image: image(await textPage(table, { font: "DejaVu Sans Mono" })) });
    const rows = read.lines.map((l) => l.text.split(/\s+/));
    expect(rows).toEqual(table.map((r) => r.split(/\s+/)));
  });

  it("reads every page of a multi-page TIFF, JPEG and WebP", async () => {
    const one = await textPage(["First page of the scan"]);
    const two = await textPage(["Second page of the scan"]);
    const sized = await Promise.all(
      [one, two].map((p) => sharp(p).resize(900, 200, { fit: "contain", background: "#fff" }).png().toBuffer()),
    );
    const stacked = await sharp(sized, { join: { animated: true } })
      .tiff({ compression: "lzw" })
      .toBuffer();
    const tiff = await client.recognize({ image: image(stacked) });
    expect(tiff.pages.map((p) => p.page)).toEqual([1, 2]);
    expect(tiff.pages.map((p) => p.text.trim())).toEqual(["First page of the scan", "Second page of the scan"]);
    expect(tiff.text.split("\f").map((t) => t.trim())).toEqual(["First page of the scan", "Second page of the scan"]);
    for (const encoded of [await sharp(one).jpeg({ quality: 80 }).toBuffer(), await sharp(one).webp().toBuffer()])
      expect((await client.recognize({ image: image(encoded) })).text.trim()).toBe("First page of the scan");
  });

  it("answers hOCR and a searchable PDF whose text layer carries what was read", async () => {
    const res = await client.recognize({ image: image(await textPage(clean)), hocr: true, searchablePdf: true });
    expect(res.pages[0].hocr).toMatch(/class='ocr_page'/);
    expect(res.pages[0].hocr).toMatch(/<span class='ocrx_word'[^>]*>fox<\/span>/);
    const pdf = res.searchablePdf!.source.value as Uint8Array;
    expect((await PDFDocument.load(pdf)).getPageCount()).toBe(1);
    const { text } = await extractText(new Uint8Array(pdf), { mergePages: true });
    expect(cer(clean.join("\n"), text)).toBeLessThanOrEqual(0.02);
  });

  it("says which engines it has", async () => {
    const { engines: found } = await client.getEngines({});
    expect(found.find((e) => e.engine === Engine.TESSERACT_JS)).toMatchObject({
      default: true,
      languages: expect.arrayContaining(["eng", "deu", "fra", "spa"]),
    });
    expect(found.some((e) => e.engine === Engine.TESSERACT)).toBe(native !== undefined);
  });
});

describe("RecognizePdf", () => {
  it("reads scanned pages, keeps text layers when asked, and answers a searchable PDF of both", async () => {
    const doc = await PDFDocument.create();
    const scan = await doc.embedPng(await textPage(clean, { fontSize: 30 }));
    const scanned = doc.addPage([595, 842]);
    scanned.drawImage(scan, {
      x: 20,
      y: 842 - 20 - (555 * scan.height) / scan.width,
      width: 555,
      height: (555 * scan.height) / scan.width,
    });
    const typed = doc.addPage([595, 842]);
    typed.drawText("This page was typed, not scanned.", {
      x: 72,
      y: 760,
      size: 14,
      font: await doc.embedFont(StandardFonts.Helvetica),
    });
    const data = await doc.save();

    const res = await client.recognizePdf({
      document: { source: { case: "data", value: data } },
      dpi: 200,
      skipTextPages: true,
      searchablePdf: true,
    });
    expect(res.pages.map((p) => [p.page, p.fromTextLayer])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(cer(clean.join("\n"), res.pages[0].text)).toBeLessThanOrEqual(0.01);
    expect(res.pages[1].text.trim()).toBe("This page was typed, not scanned.");
    expect(res.words.every((w) => w.page === 1)).toBe(true);
    const searchable = res.searchablePdf!.source.value as Uint8Array;
    const { text } = await extractText(new Uint8Array(searchable), { mergePages: false });
    expect(cer(clean.join("\n"), text[0])).toBeLessThanOrEqual(0.02);
    expect(text[1].trim()).toBe("This page was typed, not scanned.");

    const only = await client.recognizePdf({
      document: { source: { case: "data", value: data } },
      pages: "2",
      dpi: 150,
    });
    expect(only.pages.map((p) => [p.page, p.fromTextLayer, p.text.trim()])).toEqual([
      [2, false, "This page was typed, not scanned."],
    ]);
  });
});

describe("bad input", () => {
  it("refuses what is not an image, a truncated one and a 50,000 × 50,000 one, naming the field", async () => {
    const png = await textPage(["x"]);
    for (const [data, says] of [
      [new TextEncoder().encode("not an image at all"), /not an image/],
      [png.subarray(0, Math.floor(png.length / 2)), /cannot be decoded/],
      [claimedPng(50_000, 50_000), /50000 × 50000 pixels/],
    ] as const) {
      expect(await failure(client.recognize({ image: image(data) }))).toMatchObject({
        code: Code.InvalidArgument,
        fields: ["image.data"],
        message: expect.stringMatching(says),
      });
    }
    expect(await failure(client.recognize({}))).toMatchObject({ fields: ["image.data"] });
  });

  it("refuses an unknown language, a missing engine, a bad dpi and a PDF page outside it", async () => {
    const png = image(await textPage(["x"]));
    expect(await failure(client.recognize({ image: png, languages: ["eng", "klingon"] }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["languages[1]"],
    });
    const without = ocrClient({ tesseractProgram: "/nonexistent/tesseract", concurrency: 1 });
    try {
      expect(await failure(without.client.recognize({ image: png, engine: Engine.TESSERACT }))).toMatchObject({
        code: Code.FailedPrecondition,
        message: expect.stringMatching(/tesseract-ocr/),
      });
    } finally {
      await without.close();
    }
    const doc = await PDFDocument.create();
    doc.addPage();
    const pdf = { source: { case: "data" as const, value: await doc.save() } };
    expect(await failure(client.recognizePdf({ document: pdf, dpi: 2000 }))).toMatchObject({ fields: ["dpi"] });
    expect(await failure(client.recognizePdf({ document: pdf, pages: "3" }))).toMatchObject({ fields: ["pages"] });
    expect(
      await failure(client.recognizePdf({ document: { source: { case: "data", value: new Uint8Array([1, 2, 3]) } } })),
    ).toMatchObject({ fields: ["document.data"] });
  });
});
