/**
 * Hostile documents: each is refused with invalid_argument naming the document, in bounded time
 * and memory, and the service answers other callers meanwhile.
 */
import { createDeflate, deflateSync } from "node:zlib";
import { Code } from "@connectrpc/connect";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { failure } from "#test/support/in-process.js";
import { makePdf, pdfClient, rawPdf } from "./helpers.js";

// The service's own limits, and a short time limit for the case that runs into it (so the test
// does not wait out the default 30 s).
const { client, close } = pdfClient({ sandbox: { threads: 2 } });
const hurried = pdfClient({ sandbox: { threads: 2, timeMs: 5_000 } });
afterAll(() => Promise.all([close(), hurried.close()]));

const doc = (data: Uint8Array) => ({ source: { case: "data" as const, value: data } });
const catalog = "<< /Type /Catalog /Pages 2 0 R >>";

/** `size` bytes of spaces, deflated: a content stream that expands a thousandfold. */
async function bomb(size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const deflate = createDeflate({ level: 9 });
  deflate.on("data", (c: Buffer) => chunks.push(c));
  const block = Buffer.alloc(16 * 1024 * 1024, 0x20);
  for (let i = 0; i < size / block.length; i++) deflate.write(block);
  await new Promise((resolve) => deflate.end(resolve));
  return Buffer.concat(chunks);
}

describe("hostile documents", () => {
  it("a page tree that contains itself", async () => {
    const pdf = rawPdf([
      catalog,
      "<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
    ]);
    // One call at a time: a refusal nobody awaits yet would be an unhandled rejection.
    for (const call of [() => client.getInfo({ document: doc(pdf) }), () => client.renderPages({ document: doc(pdf) })])
      expect(await failure(call())).toMatchObject({
        code: Code.InvalidArgument,
        fields: ["document.data"],
        message: expect.stringMatching(/page tree is nested too deep or refers to itself/),
      });
  });

  it("a decompression bomb (300 MiB from 300 KiB) is refused before anything expands it", {
    timeout: 90_000,
  }, async () => {
    const stream = await bomb(300 * 1024 * 1024);
    expect(stream.length).toBeLessThan(1024 * 1024);
    const pdf = rawPdf([
      catalog,
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>",
      { dict: "/Filter /FlateDecode", stream },
    ]);
    for (const call of [
      () => client.extractText({ document: doc(pdf) }),
      () => client.renderPages({ document: doc(pdf) }),
    ])
      expect(await failure(call())).toMatchObject({
        code: Code.InvalidArgument,
        fields: ["document.data"],
        message: expect.stringMatching(/decompression bomb/),
      });
  });

  it("a bomb behind another filter (Flate over Flate, RunLength under Flate) is refused too; a benign chain reads", {
    timeout: 90_000,
  }, async () => {
    const page = (contents: { dict: string; stream: Buffer }) =>
      rawPdf([
        catalog,
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        contents,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      ]);
    // RunLength: a length byte of 129 repeats the next byte 128 times; 128 ends the data.
    const runs = (bytes: number) => {
      const pairs = Buffer.alloc((bytes / 128) * 2 + 1);
      for (let i = 0; i < pairs.length - 1; i += 2) [pairs[i], pairs[i + 1]] = [129, 0x20];
      pairs[pairs.length - 1] = 128;
      return pairs;
    };
    const flateOverFlate = deflateSync(await bomb(300 * 1024 * 1024)); // the first stage is only 300 KiB
    const runLength = deflateSync(runs(300 * 1024 * 1024)); // 5 MiB of runs, then 300 MiB of spaces
    for (const [filters, stream] of [
      ["[/FlateDecode /FlateDecode]", flateOverFlate],
      ["[/FlateDecode /RunLengthDecode]", runLength],
    ] as const) {
      expect(stream.length).toBeLessThan(1024 * 1024);
      expect(
        await failure(client.extractText({ document: doc(page({ dict: `/Filter ${filters}`, stream })) })),
      ).toMatchObject({
        code: Code.InvalidArgument,
        fields: ["document.data"],
        message: expect.stringMatching(/decompression bomb/),
      });
    }
    // The same chain on an ordinary page: undone, not refused, and its text read.
    const text = Buffer.from("BT /F1 12 Tf 10 50 Td (hello through two filters) Tj ET", "latin1");
    const literal = Buffer.concat([Buffer.from([text.length - 1]), text, Buffer.from([128])]);
    const fine = page({ dict: "/Filter [/FlateDecode /RunLengthDecode]", stream: deflateSync(literal) });
    const read = await client.extractText({ document: doc(fine) });
    expect(read.pages.map((p) => p.text.trim())).toEqual(["hello through two filters"]);
  });

  it("an embedded image past 50 megapixels is left out of the page, not decoded; a small one is drawn", {
    timeout: 60_000,
  }, async () => {
    /** A 100 × 100 pt page filled by one black greyscale image of side × side pixels. */
    const blackPage = (side: number) =>
      rawPdf([
        catalog,
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R /Resources << /XObject << /Im1 5 0 R >> >> >>",
        { dict: "", stream: Buffer.from("q 100 0 0 100 0 0 cm /Im1 Do Q", "latin1") },
        {
          dict: `/Type /XObject /Subtype /Image /Width ${side} /Height ${side} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode`,
          stream: deflateSync(Buffer.alloc(side * side, 0)),
        },
      ]);
    /** The mean grey of page 1 drawn at 72 dpi (0 black, 255 white). */
    const meanGrey = async (pdf: Uint8Array) => {
      const { pages } = await client.renderPages({ document: doc(pdf), dpi: 72 });
      const png = pages[0].image!.source.value as Uint8Array;
      const { channels } = await sharp(png).greyscale().stats();
      return channels[0].mean;
    };
    expect(await meanGrey(blackPage(100))).toBeLessThan(10); // drawn
    expect(await meanGrey(blackPage(8_000))).toBeGreaterThan(245); // 64 megapixels: left out
  });

  it("a million objects costs its caller the time limit; another caller is answered meanwhile", async () => {
    const objects = [
      catalog,
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
    ];
    for (let i = 0; i < 1_000_000; i++) objects.push("[1 2 3]");
    const huge = rawPdf(objects);
    const finished: string[] = [];
    const hostile = failure(hurried.client.getInfo({ document: doc(huge) })).then((f) => {
      finished.push("hostile");
      return f;
    });
    const normal = hurried.client.getInfo({ document: doc(await makePdf([["fine"]])) }).then((r) => {
      finished.push("normal");
      return r;
    });
    expect((await normal).pageCount).toBe(1);
    expect(await hostile).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["document"],
      message: expect.stringMatching(/ran longer than the 5000 ms limit/),
    });
    expect(finished).toEqual(["normal", "hostile"]);
  }, 60_000);
});
