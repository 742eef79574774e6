/**
 * PdfService beyond pages and text, on documents and images made in the tests: embedded images,
 * image stamps, forms, images to pages, compression, encryption (qpdf), Markdown and HTML.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import { PDFDocument, StandardFonts } from "pdf-lib";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { FormFieldKind, PageSizeName } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { failure } from "#test/support/in-process.js";
import { claimedPng } from "../../ocr/test/helpers.js";
import { makePdf, pdfClient } from "./helpers.js";

const { client, close } = pdfClient({ sandbox: { threads: 2, timeMs: 20_000 } });
afterAll(() => close());

const doc = (data: Uint8Array) => ({ source: { case: "data" as const, value: data } });
const bytes = (d: { source: { case?: string; value?: unknown } } | undefined) => d!.source.value as Uint8Array;
const solid = (width: number, height: number, color: string) =>
  sharp({ create: { width, height, channels: 3, background: color } })
    .png()
    .toBuffer();
const texts = async (d: Uint8Array) => (await client.extractText({ document: doc(d) })).pages.map((p) => p.text.trim());

describe("ExtractImages and AddImage", () => {
  it("a stamped logo is found again on the pages it was stamped on, pixel for pixel", async () => {
    const logo = await solid(120, 60, "#ff0000");
    const three = await makePdf([["one"], ["two"], ["three"]]);
    const stamped = await client.addImage({ document: doc(three), image: doc(logo), pages: "2-3", scale: 0.2 });
    const { images } = await client.extractImages({ document: stamped.document });
    expect(images.map((i) => [i.page, i.width, i.height])).toEqual([
      [2, 120, 60],
      [3, 120, 60],
    ]);
    const { data, info } = await sharp(bytes(images[0].image)).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBeGreaterThanOrEqual(3);
    expect([data[0], data[1], data[2]]).toEqual([255, 0, 0]);
    expect(await texts(bytes(stamped.document))).toEqual(["one", "two", "three"]);
    expect(await failure(client.addImage({ document: doc(three), image: doc(logo), scale: 2 }))).toMatchObject({
      fields: ["scale"],
    });
    expect(
      await failure(client.addImage({ document: doc(three), image: doc(claimedPng(50_000, 50_000)) })),
    ).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["image.data"],
      message: expect.stringMatching(/50000 × 50000/),
    });
  });
});

describe("forms", () => {
  async function formPdf() {
    const pdf = await PDFDocument.create();
    const page = pdf.addPage([595, 842]);
    const form = pdf.getForm();
    const name = form.createTextField("applicant.name");
    name.addToPage(page, { x: 50, y: 700, width: 300, height: 24 });
    const agree = form.createCheckBox("agree");
    agree.addToPage(page, { x: 50, y: 650, width: 16, height: 16 });
    const country = form.createDropdown("country");
    country.addOptions(["France", "Germany", "Spain"]);
    country.addToPage(page, { x: 50, y: 600, width: 200, height: 24 });
    const size = form.createRadioGroup("size");
    size.addOptionToPage("S", page, { x: 50, y: 550, width: 16, height: 16 });
    size.addOptionToPage("L", page, { x: 80, y: 550, width: 16, height: 16 });
    return pdf.save();
  }

  it("lists the fields, fills them by name, and flattens the values into the page", async () => {
    const pdf = await formPdf();
    const { fields } = await client.getFormFields({ document: doc(pdf) });
    expect(fields.map((f) => [f.name, f.kind, f.value, f.options])).toEqual([
      ["applicant.name", FormFieldKind.TEXT, "", []],
      ["agree", FormFieldKind.CHECKBOX, "false", []],
      ["country", FormFieldKind.DROPDOWN, "", ["France", "Germany", "Spain"]],
      ["size", FormFieldKind.RADIO, "", ["S", "L"]],
    ]);
    const values = { "applicant.name": "Ada Lovelace", agree: "true", country: "Spain", size: "L" };
    const filled = await client.fillForm({ document: doc(pdf), values });
    const after = await client.getFormFields({ document: filled.document });
    expect(Object.fromEntries(after.fields.map((f) => [f.name, f.value]))).toEqual(values);

    const flat = await client.flattenForm({ document: filled.document });
    expect((await client.getFormFields({ document: flat.document })).fields).toEqual([]);
    expect((await texts(bytes(flat.document))).join(" ")).toMatch(/Ada Lovelace.*Spain|Spain.*Ada Lovelace/s);

    const both = await client.fillForm({
      document: doc(pdf),
      values: { "applicant.name": "Grace Hopper" },
      flatten: true,
    });
    expect((await client.getFormFields({ document: both.document })).fields).toEqual([]);
    expect((await texts(bytes(both.document)))[0]).toContain("Grace Hopper");
  });

  it("refuses an unknown field, an option not offered and a check box value, naming each", async () => {
    const pdf = doc(await formPdf());
    for (const [values, field, says] of [
      [{ nickname: "x" }, "values[nickname]", /no field "nickname"/],
      [{ country: "Italy" }, "values[country]", /not one of its options: France, Germany, Spain/],
      [{ agree: "yes" }, "values[agree]", /"true" or "false"/],
    ] as const) {
      expect(await failure(client.fillForm({ document: pdf, values }))).toMatchObject({
        code: Code.InvalidArgument,
        fields: [field],
        message: expect.stringMatching(says),
      });
    }
  });
});

describe("ImagesToPdf", () => {
  it("makes a page of each image, sized by its resolution or fitted to paper", async () => {
    const wide = await sharp(await solid(300, 150, "#0000ff"))
      .withMetadata({ density: 150 })
      .png()
      .toBuffer();
    const photo = await sharp(await solid(200, 400, "#00ff00"))
      .jpeg()
      .toBuffer();
    const made = await client.imagesToPdf({ images: [doc(wide), doc(photo)] });
    expect(made.pageCount).toBe(2);
    const info = await client.getInfo({ document: made.document });
    expect(info.pages.map((p) => [Math.round(p.width), Math.round(p.height)])).toEqual([
      [144, 72], // 300 × 150 pixels at 150 dpi: 2 × 1 inches
      [200, 400], // no resolution said: 72 dpi
    ]);
    const a4 = await client.imagesToPdf({ images: [doc(wide)], pageSize: PageSizeName.A4 });
    expect((await client.getInfo({ document: a4.document })).pages[0].width).toBeCloseTo(595.28, 1);
    const images = (await client.extractImages({ document: made.document })).images;
    expect(images.map((i) => [i.width, i.height])).toEqual([
      [300, 150],
      [200, 400],
    ]);
    expect(
      await failure(client.imagesToPdf({ images: [doc(wide), doc(new TextEncoder().encode("nope"))] })),
    ).toMatchObject({
      fields: ["images[1].data"],
    });
  });
});

describe("Compress", () => {
  it("re-encodes large images smaller and keeps the pages", async () => {
    // A noisy 2000 × 1500 photo at JPEG quality 95: what a phone scan looks like to a compressor.
    const noise = Buffer.alloc(2000 * 1500 * 3);
    let seed = 7;
    for (let i = 0; i < noise.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      noise[i] = seed >> 23;
    }
    const photo = await sharp(noise, { raw: { width: 2000, height: 1500, channels: 3 } })
      .blur(2)
      .jpeg({ quality: 95 })
      .toBuffer();
    const pdf = await PDFDocument.create();
    const image = await pdf.embedJpg(photo);
    pdf.addPage([600, 450]).drawImage(image, { x: 0, y: 0, width: 600, height: 450 });
    pdf.addPage().drawText("second page", { x: 50, y: 700, font: await pdf.embedFont(StandardFonts.Helvetica) });
    pdf.setTitle("Site survey");
    const original = await pdf.save();

    const res = await client.compress({ document: doc(original), imageQuality: 60, maxImageSize: 1000 });
    expect(res.imagesRecompressed).toBe(1);
    expect(Number(res.compressedBytes)).toBeLessThan(Number(res.originalBytes) / 2);
    expect(bytes(res.document).length).toBe(Number(res.compressedBytes));
    const info = await client.getInfo({ document: res.document });
    expect(info.pageCount).toBe(2);
    expect(info.metadata?.title).toBe("Site survey");
    const [img] = (await client.extractImages({ document: res.document })).images;
    expect([img.width, img.height]).toEqual([1000, 750]);
    expect(await texts(bytes(res.document))).toEqual(["", "second page"]);
  });
});

describe("Encrypt and Decrypt (qpdf)", () => {
  it("a password-protected document is refused until decrypted with its password", async () => {
    const pdf = await makePdf([["secret page"]]);
    const locked = await client.encrypt({ document: doc(pdf), userPassword: "open sesame", allowPrint: true });
    const head = Buffer.from(bytes(locked.document)).toString("latin1");
    expect(head).toMatch(/\/Encrypt/);
    expect(await failure(client.getInfo({ document: locked.document }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["document.data"],
      message: expect.stringMatching(/is encrypted: decrypt it first/),
    });
    expect(await failure(client.decrypt({ document: locked.document, password: "wrong" }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["password"],
    });
    expect(await failure(client.decrypt({ document: locked.document }))).toMatchObject({ fields: ["password"] });
    const opened = await client.decrypt({ document: locked.document, password: "open sesame" });
    expect(await texts(bytes(opened.document))).toEqual(["secret page"]);
  });

  it("says which package to install when qpdf is not there", async () => {
    const without = pdfClient({ qpdf: "/nonexistent/qpdf", sandbox: { threads: 1 } });
    try {
      expect(
        await failure(without.client.encrypt({ document: doc(await makePdf([["x"]])), userPassword: "p" })),
      ).toMatchObject({
        code: Code.FailedPrecondition,
        message: expect.stringMatching(/qpdf package/),
      });
    } finally {
      await without.close();
    }
  });
});

describe("FromMarkdown", () => {
  it("typesets headings, paragraphs, lists, tables and code, in order", async () => {
    const markdown = [
      "# Quarterly report",
      "",
      "Revenue grew **twelve percent** this quarter.",
      "",
      "- first point",
      "- second point",
      "",
      "| Region | Sales |",
      "| --- | ---: |",
      "| North | 120 |",
      "| South | 95 |",
      "",
      "```",
      "total = north + south",
      "```",
      "",
      "![chart](http://example.invalid/chart.png)",
    ].join("\n");
    const res = await client.fromMarkdown({ markdown });
    expect(res.pageCount).toBe(1);
    const text = (await texts(bytes(res.document)))[0].replace(/\s+/g, " ");
    expect(text).toMatch(
      /Quarterly report Revenue grew twelve percent this quarter\. .*first point .*second point Region Sales North 120 South 95 total = north \+ south \[chart\]/,
    );
    expect((await client.getInfo({ document: res.document })).metadata?.title).toBe("Quarterly report");
    const long = await client.fromMarkdown({
      markdown: Array.from({ length: 200 }, (_, i) => `Paragraph ${i + 1}.`).join("\n\n"),
      pageSize: PageSizeName.LETTER,
    });
    expect(long.pageCount).toBeGreaterThan(3);
    expect((await client.getInfo({ document: long.document })).pages[0]).toMatchObject({ width: 612, height: 792 });
    expect(await failure(client.fromMarkdown({ markdown: " " }))).toMatchObject({ fields: ["markdown"] });
  });
});

describe("FromHtml (Chromium)", () => {
  it("prints the page, fetching nothing it links to", async () => {
    const fetched: string[] = [];
    const server = createServer((req, res) => {
      fetched.push(req.url ?? "");
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const html = `<html><head><link rel="stylesheet" href="http://127.0.0.1:${port}/style.css"></head><body>
        <h1>Delivery note</h1><p>Two pallets of paper.</p>
        <img src="http://127.0.0.1:${port}/logo.png"><script>document.body.innerHTML = "scripted"</script></body></html>`;
      const res = await client.fromHtml({ html, printBackground: true });
      expect(res.pageCount).toBe(1);
      expect((await texts(bytes(res.document)))[0].replace(/\s+/g, " ")).toBe("Delivery note Two pallets of paper.");
      expect(fetched).toEqual([]);
      const landscape = await client.fromHtml({ html: "<p>wide</p>", landscape: true, pageSize: PageSizeName.LETTER });
      const page = (await client.getInfo({ document: landscape.document })).pages[0];
      expect([Math.round(page.width), Math.round(page.height)]).toEqual([792, 612]);
    } finally {
      server.close();
    }
  }, 60_000);

  it("says which package to install when Chromium is not there", async () => {
    const without = pdfClient({ chromium: "/nonexistent/chromium", sandbox: { threads: 1 } });
    try {
      expect(await failure(without.client.fromHtml({ html: "<p>x</p>" }))).toMatchObject({
        code: Code.FailedPrecondition,
        message: expect.stringMatching(/chromium package/),
      });
    } finally {
      await without.close();
    }
  });
});
