/**
 * PdfService, OcrService and the blob store through the gateway as `npm start` runs it: the
 * shapes issue 12's acceptance names (Connect JSON, files as base64 `data` or `blob_id`), REST
 * with files as plain bodies, forms and answers, and a multi-page OCR job's progress.
 */
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { PDFDocument } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import {
  RecognizePdfRequestSchema,
  RecognizePdfResponseSchema,
  RecognizeRequestSchema,
} from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClient } from "@connectrpc/connect";
import { BlobService, type UploadRequest } from "#gen/flowforge/blob/v1/blob_pb.js";
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { create } from "@bufbuild/protobuf";
import { UploadRequestSchema } from "#gen/flowforge/blob/v1/blob_pb.js";
import { connectClient, postJson } from "#test/support/clients.js";
import { pack, watchAll } from "#test/support/jobs.js";
import { makePdf } from "../../services/pdf/test/helpers.js";
import { cer, textPage } from "../../services/ocr/test/helpers.js";
import { waitFor } from "#test/support/until.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
}, 120_000);
afterAll(() => mesh?.stop());

const post = (path: string, body: object) => postJson(mesh, path, body);
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
/** A form file part from bytes. */
const file = (bytes: Uint8Array, type = "application/pdf") => new Blob([new Uint8Array(bytes)], { type });

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

const auth = () => ({ authorization: `Bearer ${mesh.adminKey}` });

describe("OcrService through the gateway", () => {
  it("Recognize answers text and words with boxes in the acceptance shape", async () => {
    const lines = ["Shipping note 4471", "Deliver to the loading bay before noon."];
    const res = await post("/flowforge.ocr.v1.OcrService/Recognize", { image: { data: b64(await textPage(lines)) } });
    expect(res.status).toBe(200);
    expect(cer(lines.join("\n"), res.body.text)).toBeLessThanOrEqual(0.01);
    const word = res.body.words.find((w: { text: string }) => w.text === "4471");
    expect(word).toMatchObject({ page: 1, box: { left: expect.any(Number), width: expect.any(Number) } });
    expect(word.box.left).toBeGreaterThan(200);
  });

  it("a scanned PDF read as a job reports progress page by page", async () => {
    const doc = await PDFDocument.create();
    const pages = ["First scanned page", "Second scanned page", "Third scanned page"];
    for (const text of pages) {
      const png = await doc.embedPng(await textPage([text]));
      doc
        .addPage([png.width / 2, png.height / 2])
        .drawImage(png, { x: 0, y: 0, width: png.width / 2, height: png.height / 2 });
    }
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const { job } = await jobs.submitJob({
      method: "flowforge.ocr.v1.OcrService/RecognizePdf",
      request: pack(RecognizePdfRequestSchema, {
        document: { source: { case: "data", value: await doc.save() } },
        dpi: 144,
      }),
    });
    const events = await watchAll(jobs, job!.id);
    const progress = events.flatMap((e) => (e.event.case === "progress" ? [e.event.value] : []));
    expect(progress.map((p) => Math.round(p.fraction * 3))).toEqual([1, 2, 3]);
    expect(progress.map((p) => p.message)).toEqual(["page 1 of 3 read", "page 2 of 3 read", "page 3 of 3 read"]);
    expect(events[events.length - 1].event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.SUCCEEDED },
    });
    const done = events.find((e) => e.event.case === "itemFinished")!.event;
    const result =
      done.case === "itemFinished" ? anyUnpack(done.value.item!.result!, RecognizePdfResponseSchema) : undefined;
    expect(result!.pages.map((p) => p.text.trim())).toEqual(pages);
  }, 120_000);

  it("a unary Recognize is answered while a batch of full pages is being read", async () => {
    // Ten dense pages (each a second or more of OCR) as one job's items; the mesh reads two at once.
    const lines = (n: number) =>
      Array.from({ length: 28 }, (_, i) => `Batch page ${n + 1} line ${i + 1} keeps the reader busy for a while`);
    const items = await Promise.all(
      Array.from({ length: 10 }, async (_, n) =>
        pack(RecognizeRequestSchema, { image: { source: { case: "data", value: await textPage(lines(n)) } } }),
      ),
    );
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const { job } = await jobs.submitJob({ method: "flowforge.ocr.v1.OcrService/Recognize", items });
    const state = async () => (await jobs.getJob({ jobId: job!.id, itemsPageSize: 1 })).job!;
    await waitFor(async () => (await state()).state === JobState.RUNNING, { what: "the batch to start" });

    // The unary call waits for a slot at most, never behind the queued items: at most the two
    // pages being read finish meanwhile (one more for a count written just before we read it).
    const before = Number((await state()).counts!.succeeded);
    const read = await post("/api/v1/ocr/recognize", { image: { data: b64(await textPage(["Answered meanwhile"])) } });
    const after = await state();
    expect(read.body.text.trim()).toBe("Answered meanwhile");
    expect(Number(after.counts!.succeeded) - before).toBeLessThanOrEqual(3);
    expect(after.state).toBe(JobState.RUNNING);
    await jobs.cancelJob({ jobId: job!.id });
  }, 120_000);
});

describe("files larger than a message: the blob store", () => {
  it("a plain PUT uploads, GET downloads the file with its type and name, and blob_id works in any document field", async () => {
    const pdf = await makePdf([["uploaded once"], ["used twice"]]);
    const put = await fetch(`${mesh.url}/api/v1/blobs?filename=report.pdf`, {
      method: "PUT",
      headers: { ...auth(), "content-type": "application/pdf" },
      body: new Uint8Array(pdf),
    });
    expect(put.status).toBe(201);
    const { blob } = await put.json();
    expect(blob).toMatchObject({
      size: String(pdf.length),
      sha256: createHash("sha256").update(pdf).digest("hex"),
      contentType: "application/pdf",
      filename: "report.pdf",
    });
    expect(put.headers.get("location")).toBe(`/api/v1/blobs/${blob.blobId}`);

    const got = await fetch(`${mesh.url}/api/v1/blobs/${blob.blobId}`, { headers: auth() });
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/pdf");
    expect(got.headers.get("content-disposition")).toMatch(/attachment; filename="report.pdf"/);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(pdf))).toBe(true);

    const info = await post("/flowforge.pdf.v1.PdfService/GetInfo", { document: { blobId: blob.blobId } });
    expect(info.body.pageCount).toBe(2);
    const merged = await post("/api/v1/pdf/merge", { documents: [{ blobId: blob.blobId }, { blobId: blob.blobId }] });
    expect(merged.body.pageCount).toBe(4);
  });

  it("a download whose reader stops reading, then goes away, ends on the gateway: paced, then cancelled", async () => {
    const put = await fetch(`${mesh.url}/api/v1/blobs?filename=big.bin`, {
      method: "PUT",
      headers: { ...auth(), "content-type": "application/octet-stream" },
      body: new Uint8Array(randomBytes(16 << 20)),
    });
    const { blob } = await put.json();
    // Download calls over REST that have ended, whatever their outcome.
    const ended = async () => {
      const metrics = await (await fetch(`${mesh.url}/metrics`)).text();
      const lines = metrics.matchAll(
        /^flowforge_rpc_requests_total\{method="flowforge\.blob\.v1\.BlobService\/Download",code="\w+",protocol="rest"\} (\d+)$/gm,
      );
      return [...lines].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const before = await ended();
    // Reads the first chunk, then nothing: the gateway's writes back up; then the reader goes away.
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${mesh.url}/api/v1/blobs/${blob.blobId}`, { headers: auth() }, (res) => {
        res.once("data", () => {
          res.pause();
          req.destroy();
          resolve();
        });
      });
      req.on("error", (err) => (req.destroyed ? resolve() : reject(err)));
      req.end();
    });
    // The call ends (before, it waited for the gone connection to drain, for ever).
    await expect.poll(ended, { timeout: 30_000 }).toBe(before + 1);
  });

  it("blobs need the blobs scope: a key scoped to crypto can neither upload, read, describe nor delete files", async () => {
    const put = await fetch(`${mesh.url}/api/v1/blobs?filename=a.txt`, {
      method: "PUT",
      headers: { ...auth(), "content-type": "text/plain" },
      body: "mine",
    });
    const { blob } = await put.json();
    const keyFor = async (scopes: string[]) =>
      (await post("/flowforge.admin.v1.AdminService/CreateApiKey", { tenantId: "admin", name: "scoped", scopes })).body
        .secret;
    const cryptoOnly = { authorization: `Bearer ${await keyFor(["crypto"])}` };
    for (const [method, path, body] of [
      ["PUT", "/api/v1/blobs?filename=b.txt", "theirs"],
      ["GET", `/api/v1/blobs/${blob.blobId}`, undefined],
      ["GET", `/api/v1/blobs/${blob.blobId}/info`, undefined],
      ["DELETE", `/api/v1/blobs/${blob.blobId}`, undefined],
    ] as const) {
      const res = await fetch(`${mesh.url}${path}`, {
        method,
        headers: { ...cryptoOnly, "content-type": "text/plain" },
        body,
      });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await res.json()).error.message).toMatch(/lacks the "blobs" scope/);
    }
    const blobKey = { authorization: `Bearer ${await keyFor(["blobs"])}` };
    const got = await fetch(`${mesh.url}/api/v1/blobs/${blob.blobId}`, { headers: blobKey });
    expect(await got.text()).toBe("mine");
    // The scopes a key may be given, each named once.
    const unknown = await post("/flowforge.admin.v1.AdminService/CreateApiKey", { tenantId: "t", scopes: ["nope"] });
    const listed = /known: (.*)$/.exec(unknown.body.message)![1].split(", ");
    expect(listed).toEqual([...new Set(listed)]);
    expect(listed).toEqual(expect.arrayContaining(["*", "admin", "blobs", "jobs", "crypto", "pdf"]));
  });

  it("a multipart form uploads (as n8n sends binary data), and another tenant cannot see the file", async () => {
    const form = new FormData();
    form.append("ttl_seconds", "600");
    form.append("file", file(await textPage(["form upload"]), "image/png"), "scan.png");
    const up = await fetch(`${mesh.url}/api/v1/blobs`, { method: "POST", headers: auth(), body: form });
    expect(up.status).toBe(201);
    const { blob } = await up.json();
    expect(blob).toMatchObject({ contentType: "image/png", filename: "scan.png" });
    expect(Date.parse(blob.expireTime) - Date.parse(blob.createTime)).toBe(600_000);
    const read = await post("/api/v1/ocr/recognize", { image: { blobId: blob.blobId } });
    expect(read.body.text.trim()).toBe("form upload");

    const other = await post("/flowforge.admin.v1.AdminService/CreateApiKey", {
      tenantId: "someone-else",
      name: "other tenant",
      scopes: ["*"],
    });
    const theirs = { authorization: `Bearer ${other.body.secret}` };
    expect((await fetch(`${mesh.url}/api/v1/blobs/${blob.blobId}`, { headers: theirs })).status).toBe(404);
    const refused = await fetch(`${mesh.url}/api/v1/ocr/recognize`, {
      method: "POST",
      headers: { ...theirs, "content-type": "application/json" },
      body: JSON.stringify({ image: { blobId: blob.blobId } }),
    });
    expect(refused.status).toBe(404);
    expect((await fetch(`${mesh.url}/api/v1/blobs/${blob.blobId}`, { headers: auth() })).status).toBe(200);

    // A TTL that is not a number is refused, naming the field, from a form as from the query.
    const badForm = new FormData();
    badForm.append("ttl_seconds", "ten minutes");
    badForm.append("file", file(await textPage(["never kept"]), "image/png"), "scan.png");
    for (const [url, body] of [
      [`${mesh.url}/api/v1/blobs`, badForm],
      [`${mesh.url}/api/v1/blobs?ttl_seconds=10m`, new Uint8Array(16)],
    ] as const) {
      const res = await fetch(url, { method: "POST", headers: auth(), body });
      expect(res.status).toBe(400);
      expect((await res.json()).error.details[0]).toMatchObject({
        field: "ttl_seconds",
        message: "must be a whole number of seconds",
      });
    }
  });

  it("REST routes take file parts in a form and answer the file itself when asked", async () => {
    const form = new FormData();
    form.append("documents", file(await makePdf([["part one"]])), "a.pdf");
    form.append("documents", file(await makePdf([["part two"], ["part three"]])), "b.pdf");
    const res = await fetch(`${mesh.url}/api/v1/pdf/merge`, {
      method: "POST",
      headers: { ...auth(), accept: "application/pdf" },
      body: form,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    // Named after what made it, typed as what it is.
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="merge\.pdf"/);
    const merged = await PDFDocument.load(new Uint8Array(await res.arrayBuffer()));
    expect(merged.getPageCount()).toBe(3);

    const one = new FormData();
    one.append("document", file(await makePdf([["only page"]])), "c.pdf");
    one.append("dpi", "50");
    one.append("format", "JPEG");
    const image = await fetch(`${mesh.url}/api/v1/pdf/render-pages`, {
      method: "POST",
      headers: { ...auth(), accept: "image/*" },
      body: one,
    });
    expect(image.headers.get("content-type"), await image.clone().text()).toBe("image/jpeg");
    expect(Buffer.from(await image.arrayBuffer()).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));

    const wrongPart = new FormData();
    wrongPart.append("pdf", file(await makePdf([["x"]])), "x.pdf");
    const refused = await fetch(`${mesh.url}/api/v1/pdf/info`, { method: "POST", headers: auth(), body: wrongPart });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error.details[0]).toMatchObject({
      field: "pdf",
      message: expect.stringMatching(/document/),
    });
  });
});

describe("a document past the 32 MiB message limit", () => {
  it("streams up over gRPC in chunks, is used by id, and streams back whole", async () => {
    const doc = await PDFDocument.create();
    doc.addPage().drawText("a page beside a large attachment", { x: 50, y: 700 });
    await doc.attach(randomBytes(40 * 1024 * 1024), "payload.bin", { mimeType: "application/octet-stream" });
    const pdf = await doc.save({ useObjectStreams: false });
    expect(pdf.length).toBeGreaterThan(40 * 1024 * 1024);
    const transport = createGrpcTransport({
      baseUrl: mesh.url,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${mesh.adminKey}`);
          return next(req);
        },
      ],
    });
    const blobs = createClient(BlobService, transport);
    async function* upload(): AsyncIterable<UploadRequest> {
      yield create(UploadRequestSchema, {
        part: { case: "info", value: { filename: "big.pdf", contentType: "application/pdf" } },
      });
      for (let i = 0; i < pdf.length; i += 1 << 20)
        yield create(UploadRequestSchema, { part: { case: "chunk", value: pdf.subarray(i, i + (1 << 20)) } });
    }
    const { blob } = await blobs.upload(upload());
    expect(Number(blob!.size)).toBe(pdf.length);
    const pdfs = createClient(PdfService, transport);
    const info = await pdfs.getInfo({ document: { source: { case: "blobId", value: blob!.blobId } } });
    expect(info.pageCount).toBe(1);
    const hash = createHash("sha256");
    let first = true;
    for await (const part of blobs.download({ blobId: blob!.blobId })) {
      if (first) expect(part.part).toMatchObject({ case: "blob", value: { filename: "big.pdf" } });
      else if (part.part.case === "chunk") hash.update(part.part.value);
      first = false;
    }
    expect(hash.digest("hex")).toBe(createHash("sha256").update(pdf).digest("hex"));
  }, 120_000);
});
