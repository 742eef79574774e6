/** Reading a document: what a caller is told about a file that is not a readable PDF. */
import { describe, expect, it } from "vitest";
import { load } from "../document.js";

const read = (text: string) => load({ data: new Uint8Array(Buffer.from(text)), field: "document.data" });

describe("load", () => {
  it("a header and nothing else: damaged or incomplete, naming the field, without pdf-lib's internals", async () => {
    await expect(read("%PDF-1.4\n")).rejects.toMatchObject({
      field: "document.data",
      message: "cannot be read as a PDF: it is damaged or incomplete",
    });
  });

  it("no header at all: not a PDF", async () => {
    await expect(read("hello")).rejects.toMatchObject({
      field: "document.data",
      message: "is not a PDF (no %PDF- header)",
    });
  });
});
