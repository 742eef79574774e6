/**
 * `npm start` runs the JavaScript compiled and bundled into dist/ (`npm run build`, run by
 * `npm install`): every process of the mesh, and the worker threads of a sandboxed capability,
 * without tsx, each capability's engines loading from the bundles on its first call; a change to
 * the sources makes dist/ stale, and a stale dist/ is rebuilt before anything starts.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DescService } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import sharp from "sharp";
import { CryptoService, HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { ImageFormat, ImageService } from "#gen/flowforge/image/v1/image_pb.js";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { LlmService, Role } from "#gen/flowforge/llm/v1/llm_pb.js";
import { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { OcrService } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { DataFormat, TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { Distance, VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { selectCapabilities } from "../../services/select.js";
import { errorOf } from "../support/clients.js";
import { pack, watchAll } from "../support/jobs.js";
import { builtStamp, stale } from "../../scripts/fresh.js";
import { connectClient } from "../support/clients.js";
import { type Mesh, startMesh } from "../support/mesh.js";

describe("the compiled mesh (npm start)", () => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh({}, { compiled: true }); // every capability
  }, 120_000);
  afterAll(() => mesh?.stop());
  const client = <S extends DescService>(service: S) => connectClient(service, mesh.url, mesh.adminKey, true);

  it("answers from every process, and none of them runs tsx", async () => {
    const hash = await client(CryptoService).hash({
      algorithm: HashAlgorithm.SHA256,
      input: { case: "text", value: "abc" },
    });
    expect(hash.digest).toBe(createHash("sha256").update("abc").digest("hex"));
    // Evaluate runs on a sandbox thread, loaded from dist/ as well.
    const sum = await client(MathService).evaluate({ expression: "2 + 3" });
    expect([sum.value?.kind, sum.text]).toEqual([{ case: "numberValue", value: 5 }, "5"]);
    for (const name of ["gateway", ...selectCapabilities(undefined)]) {
      const cmdline = (await readFile(`/proc/${mesh.pidOf(name)}/cmdline`, "utf8")).split("\0");
      expect(cmdline.join(" "), name).not.toContain("tsx");
      expect(
        cmdline.some((arg) => /\/dist\/(gateway|services)\/main\.js$/.test(arg)),
        name,
      ).toBe(true);
    }
  });

  // The processes run bundles (scripts/bundle.ts): what each capability loads on its first call
  // (sharp, pdf-lib and pdfmake, the OCR engines, the parsers, pgvector) has to load from there.
  it("each capability builds its engines on its first call and answers", async () => {
    const png = await sharp({ create: { width: 4, height: 3, channels: 3, background: "#c00" } })
      .png()
      .toBuffer();
    const meta = await client(ImageService).getMetadata({ image: { source: { case: "data", value: png } } });
    expect([meta.format, meta.width, meta.height]).toEqual([ImageFormat.PNG, 4, 3]);

    const pdf = client(PdfService);
    const made = await pdf.fromMarkdown({ markdown: "# Compiled\n\nOne page." });
    expect(made.document?.source.case).toBe("data");
    const info = await pdf.getInfo({ document: made.document });
    expect(info.pageCount).toBe(1);
    const text = await pdf.extractText({ document: made.document });
    expect(JSON.stringify(text)).toContain("One page.");

    const engines = await client(OcrService).getEngines({});
    expect(engines.engines.flatMap((e) => e.languages)).toContain("eng");

    const converted = await client(TransformService).convert({
      input: "a,b\n1,2\n",
      from: DataFormat.CSV,
      to: DataFormat.JSON,
    });
    expect(JSON.parse(converted.output)).toEqual([{ a: 1, b: 2 }]);

    // No model provider in this mesh: the LLM service says what to set.
    const llm = await errorOf(
      client(LlmService).chat({ model: "default", messages: [{ role: Role.USER, content: "hi" }] }),
    );
    expect(llm.code).toBe(Code.FailedPrecondition);

    const vector = client(VectorService);
    await vector.createCollection({ name: "compiled", dimension: 3, distance: Distance.COSINE });
    expect((await vector.listCollections({})).collections.map((c) => c.name)).toContain("compiled");

    // A job runs on a worker of the crypto process, through the jobs process's bus.
    const jobs = client(JobService);
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: [pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "job" } })],
    });
    const events = await watchAll(jobs, job!.id);
    expect(events[events.length - 1].event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.SUCCEEDED },
    });
  }, 120_000);
});

describe("whether dist/ is stale", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "flowforge-fresh-"));
    for (const dir of ["lib/db/test", "services", "gateway", "scripts", "gen", "dist"])
      await mkdir(join(root, dir), { recursive: true });
    for (const file of [
      "package.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "lib/db/sql.ts",
      "lib/db/test/sql.test.ts",
    ])
      await writeFile(join(root, file), "{}");
  });
  afterAll(() => rm(root, { recursive: true, force: true }));
  const at = (file: string, seconds: number) => utimes(join(root, file), seconds, seconds);

  it("is stale with no build, fresh after one, stale again once a source changes; tests do not count", async () => {
    expect(stale(root)).toBe(true);
    for (const file of ["package.json", "tsconfig.json", "tsconfig.build.json", "lib/db/sql.ts"]) await at(file, 1000);
    await writeFile(join(root, builtStamp), "built");
    await at(builtStamp, 2000);
    expect(stale(root)).toBe(false);
    await at("lib/db/test/sql.test.ts", 3000);
    expect(stale(root)).toBe(false);
    await at("lib/db/sql.ts", 3000);
    expect(stale(root)).toBe(true);
    await at("lib/db/sql.ts", 1000);
    await at("package.json", 3000);
    expect(stale(root)).toBe(true);
  });
});
