/**
 * VectorService as `npm start` runs it (pgvector in the embedded PGlite): the acceptance
 * shapes in Connect JSON, REST routes, tenants kept apart, and ingestion as a job — a PDF made by
 * the PDF service, read through it, chunked, embedded by the LLM service (against a local server
 * speaking OpenAI's protocol), upserted — then found by a search by text, and answered over with
 * LlmService/Chat: the capabilities calling each other over gRPC through the mesh.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { IngestRequestSchema, IngestResponseSchema } from "#gen/flowforge/vector/v1/vector_pb.js";
import { connectClient, postJson } from "#test/support/clients.js";
import { pack, watchAll } from "#test/support/jobs.js";
import { startOpenAiProvider, type TestProvider, testVector } from "#test/support/llm-providers.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";

let mesh: Mesh;
let openai: TestProvider;
let acmeKey: string;
let otherKey: string;

beforeAll(async () => {
  openai = await startOpenAiProvider();
  mesh = await startMesh({
    OPENAI_BASE_URL: openai.url,
    OPENAI_MODEL: "echo",
    OPENAI_EMBEDDING_MODEL: "embed",
  });
  const key = async (tenantId: string) =>
    (await postJson(mesh, "/flowforge.admin.v1.AdminService/CreateApiKey", { tenantId, name: "vector" })).body
      .secret as string;
  [acmeKey, otherKey] = await Promise.all([key("acme"), key("other")]);
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
  await openai?.close();
});

const call = async (method: string, body: object, key = acmeKey) => {
  const res = await fetch(`${mesh.url}/flowforge.vector.v1.VectorService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};

describe("VectorService through the gateway", () => {
  it("answers the acceptance shapes in Connect JSON", async () => {
    const created = await call("CreateCollection", { name: "docs", dimension: 3, distance: "DISTANCE_COSINE" });
    expect(created.status).toBe(200);
    expect(created.body.collection).toMatchObject({ name: "docs", dimension: 3, distance: "DISTANCE_COSINE" });
    const upsert = await call("Upsert", {
      collection: "docs",
      points: [
        { id: "a", vector: [1, 0, 0], payload: { k: "x" } },
        { id: "b", vector: [0, 1, 0], payload: { k: "y" } },
      ],
    });
    expect(upsert.body).toEqual({ upserted: 2 });
    const search = await call("Search", { collection: "docs", vector: [0.9, 0.1, 0], limit: 1 });
    expect(search.body.points).toHaveLength(1);
    expect(search.body.points[0]).toMatchObject({ id: "a", payload: { k: "x" } });
    expect(search.body.points[0].score).toBeGreaterThan(0.99);
    const filtered = await call("Search", {
      collection: "docs",
      vector: [0.9, 0.1, 0],
      limit: 1,
      filter: { must: [{ key: "k", match: "y" }] },
    });
    expect(filtered.body.points.map((p: { id: string }) => p.id)).toEqual(["b"]);
  });

  it("REST routes: a search by path, the collection described by GET; another tenant finds nothing", async () => {
    const res = await fetch(`${mesh.url}/api/v1/vector/collections/docs/points:search`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${acmeKey}` },
      body: JSON.stringify({ vector: [0, 1, 0], limit: 1 }),
    });
    expect((await res.json()).points[0].id).toBe("b");
    const described = await fetch(`${mesh.url}/api/v1/vector/collections/docs`, {
      headers: { authorization: `Bearer ${acmeKey}` },
    });
    expect((await described.json()).collection).toMatchObject({ points: "2", indexState: "ready" });
    const theirs = await call("Search", { collection: "docs", vector: [1, 0, 0] }, otherKey);
    expect([theirs.status, theirs.body.code]).toEqual([404, "not_found"]);
    expect((await call("ListCollections", {}, otherKey)).body.collections ?? []).toEqual([]);
  });

  it("bad input is named: the wrong dimension and a limit too large", async () => {
    const wrong = await call("Upsert", { collection: "docs", points: [{ id: "c", vector: [1, 0] }] });
    expect(wrong.status).toBe(400);
    expect(wrong.body.details[0].debug.fieldViolations[0].field).toBe("points[0].vector");
    const limit = await call("Search", { collection: "docs", vector: [1, 0, 0], limit: 1_000_000 });
    expect(limit.body.details[0].debug.fieldViolations[0].field).toBe("limit");
  });
});

describe("ingestion across the mesh", () => {
  it("ingests a PDF as a job (PDF service → chunks → LLM embeddings → upsert) with progress, then finds it by text", async () => {
    await call("CreateCollection", { name: "kb", dimension: 8, distance: "DISTANCE_COSINE" });
    const pdf = await postJson(mesh, "/flowforge.pdf.v1.PdfService/FromMarkdown", {
      markdown: "# Refunds\n\nRefunds are paid within 14 days of a return.\n\nShipping is free above 50 euros.",
    });
    const data = pdf.body.document.data as string;
    const jobs = connectClient(JobService, mesh.url, acmeKey);
    const { job } = await jobs.submitJob({
      method: "flowforge.vector.v1.VectorService/Ingest",
      items: [
        pack(IngestRequestSchema, {
          collection: "kb",
          documents: [
            {
              source: { case: "file", value: { source: { case: "data", value: Buffer.from(data, "base64") } } },
              name: "policy.pdf",
            },
            {
              source: { case: "text", value: "Opening hours are nine to five." },
              name: "hours",
              payload: { team: "support" },
            },
          ],
          chunking: { size: 12, overlap: 2 },
        }),
      ],
    });
    const events = await watchAll(jobs, job!.id);
    expect(events.at(-1)!.event).toMatchObject({ case: "stateChanged", value: { state: JobState.SUCCEEDED } });
    const progress = events.flatMap((e) => (e.event.case === "progress" ? [e.event.value.message] : []));
    expect(progress.some((m) => m.startsWith("policy.pdf:"))).toBe(true);
    expect(progress.some((m) => m.startsWith("hours:"))).toBe(true);
    const item = events.flatMap((e) => (e.event.case === "itemFinished" ? [e.event.value.item!] : []))[0];
    const result = anyUnpack(item.result!, IngestResponseSchema)!;
    expect(result.documents.map((d) => d.name)).toEqual(["policy.pdf", "hours"]);
    expect(result.documents[0].pages).toBe(1);
    expect(result.documents[0].chunks).toBeGreaterThan(1);
    expect(result.ids).toContain("hours#1-0");
    // The embeddings came from the LLM service's provider, for each chunk's text.
    const embedded = openai.received.filter((r) => r.path.startsWith("/v1/embeddings"));
    expect(embedded.length).toBeGreaterThan(0);

    const stored = await call("GetPoints", { collection: "kb", ids: ["hours#1-0"], withVector: true });
    const point = stored.body.points[0];
    expect(point.payload).toEqual({ team: "support", source: "hours", page: 1, chunk: 0 });
    expect(point.text).toBe("Opening hours are nine to five.");
    expect(point.vector.map((v: number) => Math.fround(v))).toEqual(testVector(point.text).map((v) => Math.fround(v)));

    // Search by text: embedded the same way, so the identical text is nearest.
    const found = await call("Search", { collection: "kb", text: "Opening hours are nine to five.", limit: 1 });
    expect(found.body.points[0].id).toBe("hours#1-0");
    const pdfChunks = await call("Count", {
      collection: "kb",
      filter: { must: [{ key: "source", match: "policy.pdf" }] },
    });
    expect(Number(pdfChunks.body.count)).toBe(result.documents[0].chunks);
    const words = await call("Search", { collection: "kb", keywords: "refunds", limit: 3 });
    expect(words.body.points[0].payload.source).toBe("policy.pdf");
    expect(words.body.points[0].text.toLowerCase()).toContain("refunds");

    // And a workflow answers over what it found.
    const chat = await postJson(mesh, "/flowforge.llm.v1.LlmService/Chat", {
      messages: [{ role: "ROLE_USER", content: `Context: ${words.body.points[0].text}\nWhen are refunds paid?` }],
    });
    expect(chat.body.message.content).toContain("Refunds are paid within 14 days");
  });

  it("reads a scanned page (no text layer) through the OCR service when asked", async () => {
    const png = await sharp(
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="300"><rect width="100%" height="100%" fill="white"/>' +
          '<text x="40" y="170" font-family="DejaVu Sans" font-size="64" fill="black">Warranty lasts two years</text></svg>',
      ),
    )
      .png()
      .toBuffer();
    const scanned = await postJson(mesh, "/flowforge.pdf.v1.PdfService/ImagesToPdf", {
      images: [{ data: png.toString("base64") }],
    });
    const document = Buffer.from(scanned.body.document.data, "base64");
    const ingest = (ocr: boolean) =>
      call("Ingest", {
        collection: "kb",
        documents: [{ file: { data: document.toString("base64") }, name: `scan-${ocr}` }],
        ocr,
      });
    // Without OCR the page has no text: nothing to chunk.
    expect((await ingest(false)).body.documents[0]).toMatchObject({ name: "scan-false" });
    const read = await ingest(true);
    expect(read.status).toBe(200);
    expect(read.body.documents[0].chunks).toBe(1);
    const point = await call("GetPoints", { collection: "kb", ids: ["scan-true#1-0"] });
    expect(point.body.points[0].text.toLowerCase()).toContain("warranty");
  });
});
