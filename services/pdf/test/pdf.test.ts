/** PdfService on PDFs the tests make with known text: merge, info, text, and what it refuses. */
import { afterAll, describe, expect, it } from "vitest";
import { PDFDocument, degrees } from "pdf-lib";
import sharp from "sharp";
import { Code } from "@connectrpc/connect";
import { failure } from "#test/support/in-process.js";
import { type Document, ImageFormat, TextPosition } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { makePdf, pdfClient } from "./helpers.js";

const { client, close } = pdfClient({ sandbox: { threads: 2, timeMs: 20_000 } });
afterAll(() => close());

const doc = (data: Uint8Array) => ({ source: { case: "data" as const, value: data } });

describe("Merge", () => {
  it("concatenates the documents' pages in order", async () => {
    const a = await makePdf([["alpha one"], ["alpha two"]]);
    const b = await makePdf([["beta one"]], { size: [300, 400] });
    const res = await client.merge({ documents: [doc(a), doc(b)] });
    expect(res.pageCount).toBe(3);
    const merged = await PDFDocument.load(res.document!.source.value as Uint8Array);
    expect(merged.getPageCount()).toBe(3);
    expect(merged.getPage(2).getSize()).toEqual({ width: 300, height: 400 });
    const text = await client.extractText({ document: res.document });
    expect(text.pages.map((p) => p.text.trim())).toEqual(["alpha one", "alpha two", "beta one"]);
  });
});

/** The text of each page of a document this service answered. */
async function texts(document: Document | undefined) {
  return (await client.extractText({ document })).pages.map((p) => p.text.trim());
}

describe("page operations", () => {
  const five = makePdf(["one", "two", "three", "four", "five"].map((t) => [`page ${t}`]));

  it("Split by ranges and every N pages", async () => {
    const byRanges = await client.split({ document: doc(await five), by: { case: "ranges", value: "1-2, 4,3-5" } });
    expect(await Promise.all(byRanges.documents.map(texts))).toEqual([
      ["page one", "page two"],
      ["page four"],
      ["page three", "page four", "page five"],
    ]);
    const byTwo = await client.split({ document: doc(await five), by: { case: "every", value: 2 } });
    expect((await Promise.all(byTwo.documents.map(texts))).map((pages) => pages.length)).toEqual([2, 2, 1]);
  });

  it("SelectPages reorders and duplicates; RemovePages drops; RotatePages turns", async () => {
    const selected = await client.selectPages({ document: doc(await five), pages: "3,1,1-2" });
    expect(selected.pageCount).toBe(4);
    expect(await texts(selected.document)).toEqual(["page three", "page one", "page one", "page two"]);
    const removed = await client.removePages({ document: doc(await five), pages: "2,4-5" });
    expect(removed.pageCount).toBe(2);
    expect(await texts(removed.document)).toEqual(["page one", "page three"]);
    const rotated = await client.rotatePages({ document: doc(await five), pages: "2", degrees: -90 });
    const info = await client.getInfo({ document: rotated.document });
    expect(info.pages.map((p) => p.rotation)).toEqual([0, 270, 0, 0, 0]);
  });

  it("pages outside the document, malformed lists and removing everything name the field", async () => {
    const d = doc(await five);
    for (const [call, field, says] of [
      [() => client.selectPages({ document: d, pages: "2,9" }), "pages", /outside the document's 5 pages/],
      [() => client.selectPages({ document: d, pages: "2;3" }), "pages", /not a page or a range/],
      [() => client.removePages({ document: d, pages: "1-5" }), "pages", /every page/],
      [() => client.split({ document: d, by: { case: "ranges", value: "0-2" } }), "ranges", /from 1/],
      [() => client.split({ document: d, by: { case: "every", value: 0 } }), "every", /at least 1/],
      [() => client.rotatePages({ document: d, degrees: 45 }), "degrees", /multiple of 90/],
    ] as const) {
      expect(await failure(call())).toMatchObject({
        code: Code.InvalidArgument,
        fields: [field],
        message: expect.stringMatching(says),
      });
    }
  });
});

describe("GetInfo", () => {
  it("answers the page count, each page's size as displayed, and the metadata", async () => {
    const pdf = await PDFDocument.load(await makePdf([["x"], ["y"]], { title: "Quarterly report" }));
    pdf.getPage(1).setRotation(degrees(90));
    const info = await client.getInfo({ document: doc(await pdf.save()) });
    expect(info.pageCount).toBe(2);
    expect(info.pages[0]).toMatchObject({ rotation: 0 });
    expect(info.pages[0].width).toBeCloseTo(595.28, 2);
    expect(info.pages[1]).toMatchObject({ rotation: 90 });
    expect(info.pages[1].width).toBeCloseTo(841.89, 2); // turned: as displayed
    expect(info.metadata).toMatchObject({ title: "Quarterly report", author: "FlowForge tests" });
    expect(info.metadata?.creationTime).toBeDefined();
  });
});

describe("SetMetadata", () => {
  it("writes what is given and keeps the rest; GetInfo reads it back", async () => {
    const written = await client.setMetadata({
      document: doc(await makePdf([["x"]], { title: "Old title" })),
      metadata: {
        author: "Ada Lovelace",
        subject: "Notes",
        keywords: "engine, numbers",
        creationTime: { seconds: 1_000_000_000n, nanos: 0 },
      },
    });
    const info = await client.getInfo({ document: written.document });
    expect(info.metadata).toMatchObject({
      title: "Old title",
      author: "Ada Lovelace",
      subject: "Notes",
      keywords: "engine numbers",
    });
    expect(info.metadata?.creationTime?.seconds).toBe(1_000_000_000n);
    expect(await failure(client.setMetadata({ document: doc(await makePdf([["x"]])) }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["metadata"],
    });
  });
});

describe("AddText", () => {
  it("page numbers at the bottom and a watermark across the middle, on the pages asked for", async () => {
    const three = await makePdf([["first"], ["second"], ["third"]]);
    const numbered = await client.addText({
      document: doc(three),
      text: "Page {page} of {pages}",
      position: TextPosition.BOTTOM_CENTER,
    });
    expect((await texts(numbered.document)).map((t) => t.replace(/\s+/g, " "))).toEqual([
      "first Page 1 of 3",
      "second Page 2 of 3",
      "third Page 3 of 3",
    ]);
    const marked = await client.addText({ document: numbered.document, text: "DRAFT", pages: "2" });
    const pages = await texts(marked.document);
    expect(pages.map((t) => t.includes("DRAFT"))).toEqual([false, true, false]);
    expect(await failure(client.addText({ document: doc(three), text: "x", fontSize: 1000 }))).toMatchObject({
      fields: ["font_size"],
    });
    expect(await failure(client.addText({ document: doc(three), text: "a\nb" }))).toMatchObject({ fields: ["text"] });
  });
});

describe("ExtractText", () => {
  it("answers each page's text in reading order", async () => {
    const pages = [
      ["The quick brown fox", "jumps over the lazy dog"],
      ["Page two, line one", "line two"],
    ];
    const res = await client.extractText({ document: doc(await makePdf(pages)) });
    expect(res.pages.map((p) => p.page)).toEqual([1, 2]);
    for (const [i, lines] of pages.entries())
      expect(res.pages[i].text.replace(/\s+/g, " ").trim()).toBe(lines.join(" "));
  });
});

describe("RenderPages", () => {
  /** How dark a region of an image is: the share of its pixels below mid-grey. */
  async function ink(image: Uint8Array, region: { left: number; top: number; width: number; height: number }) {
    const { data } = await sharp(image).extract(region).greyscale().raw().toBuffer({ resolveWithObject: true });
    return data.filter((v) => v < 128).length / data.length;
  }

  it("draws the pages asked for at the dpi asked for, text where the page has it", async () => {
    const pdf = await makePdf([["first page"], ["SECOND PAGE IN LARGE CAPITALS"], ["third"]]);
    const res = await client.renderPages({ document: doc(pdf), pages: "2,1", dpi: 100 });
    expect(res.pages.map((p) => [p.page, p.width, p.height])).toEqual([
      [2, 827, 1170],
      [1, 827, 1170],
    ]);
    const png = res.pages[0].image!.source.value as Uint8Array;
    expect(res.pages[0].image!.contentType).toBe("image/png");
    expect(await sharp(png).metadata()).toMatchObject({ format: "png", width: 827, height: 1170 });
    // The line is drawn 72 pt (100 px) below the top edge, from 72 pt in; the bottom half is blank.
    expect(await ink(png, { left: 90, top: 75, width: 400, height: 40 })).toBeGreaterThan(0.02);
    expect(await ink(png, { left: 0, top: 600, width: 827, height: 570 })).toBe(0);

    const jpeg = await client.renderPages({ document: doc(pdf), pages: "3", dpi: 50, format: ImageFormat.JPEG });
    expect(jpeg.pages[0].image!.contentType).toBe("image/jpeg");
    expect((await sharp(jpeg.pages[0].image!.source.value as Uint8Array).metadata()).format).toBe("jpeg");
  });

  it("refuses a dpi out of range, pages outside the document and images past the pixel bound", async () => {
    const pdf = await makePdf([["x"]]);
    expect(await failure(client.renderPages({ document: doc(pdf), dpi: 1200 }))).toMatchObject({ fields: ["dpi"] });
    expect(await failure(client.renderPages({ document: doc(pdf), pages: "2" }))).toMatchObject({
      fields: ["pages"],
    });
    // The largest page PDF allows (200 × 200 inches) at 600 dpi would be 14,400 megapixels.
    const huge = await makePdf([["x"]], { size: [14_400, 14_400] });
    expect(await failure(client.renderPages({ document: doc(huge), dpi: 600 }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["dpi"],
      message: expect.stringMatching(/120000 × 120000 pixels/),
    });
  });
});

describe("bad input", () => {
  it("not a PDF, a truncated PDF, a missing document and too few documents name their field", async () => {
    const good = await makePdf([["x"]]);
    expect(
      await failure(client.getInfo({ document: doc(new TextEncoder().encode("hello, not a pdf")) })),
    ).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["document.data"],
      message: expect.stringMatching(/not a PDF/),
    });
    const truncated = good.subarray(0, Math.floor(good.length / 3));
    expect(await failure(client.extractText({ document: doc(truncated) }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["document.data"],
    });
    expect(await failure(client.getInfo({}))).toMatchObject({ code: Code.InvalidArgument, fields: ["document.data"] });
    expect(await failure(client.merge({ documents: [doc(good)] }))).toMatchObject({ fields: ["documents"] });
    expect(
      await failure(client.merge({ documents: [doc(good), doc(new TextEncoder().encode("%PDF-1.7 garbage"))] })),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["documents[1].data"] });
  });
});
