/**
 * PdfService through the gateway as `npm start` runs it, in the shapes issue 12's acceptance
 * names (Connect JSON, documents as base64 `data`), and over REST.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePdf } from "../../services/pdf/test/helpers.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
}, 120_000);
afterAll(() => mesh?.stop());

const post = async (path: string, body: object) => {
  const res = await fetch(`${mesh.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

describe("PdfService through the gateway", () => {
  it("Merge, GetInfo and ExtractText answer as the acceptance shapes say", async () => {
    const a = b64(await makePdf([["first document"]]));
    const b = b64(await makePdf([["second document, page one"], ["second document, page two"]], { title: "B" }));
    const merged = await post("/flowforge.pdf.v1.PdfService/Merge", { documents: [{ data: a }, { data: b }] });
    expect(merged.status).toBe(200);
    expect(merged.body.pageCount).toBe(3);
    const info = await post("/flowforge.pdf.v1.PdfService/GetInfo", { document: { data: b } });
    expect(info.body).toMatchObject({ pageCount: 2, metadata: { title: "B", author: "FlowForge tests" } });
    const text = await post("/flowforge.pdf.v1.PdfService/ExtractText", { document: merged.body.document });
    expect(text.body.pages.map((p: { text: string }) => p.text.trim())).toEqual([
      "first document",
      "second document, page one",
      "second document, page two",
    ]);
  });

  it("over REST, with bad input named in the envelope", async () => {
    const info = await post("/api/v1/pdf/info", { document: { data: b64(await makePdf([["x"], ["y"], ["z"]])) } });
    expect(info.body.pageCount).toBe(3);
    const bad = await post("/api/v1/pdf/info", { document: { data: b64(new TextEncoder().encode("not a pdf")) } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]).toMatchObject({
      field: "document.data",
      message: expect.stringMatching(/not a PDF/),
    });
  });
});
