/**
 * A real n8n (the npm package; `.ci/run` installs it into a cache outside the repo) executes
 * workflows whose plain HTTP Request nodes, with the defaults a new user keeps, call the gateway's
 * REST routes: a hash, a batch and the job read back with `?wait=`; a CSV and an XLSX made by
 * n8n's Convert to File node, sent as a form part and as the body; two PDFs merged and answered
 * as binary data, then read; a page drawn as an image and read by OCR; a refused call and a
 * batch whose every item failed, both handled by one error output. Where n8n is not installed
 * the test is skipped, unless FLOWFORGE_REQUIRE_N8N=1 (CI), which makes a missing n8n a failure.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPostgresDatabase } from "#test/support/databases.js";
import { root, startMesh, type Mesh } from "#test/support/mesh.js";
import { n8nAt, n8nBin, n8nInstalled, n8nRequired, type NodeRun } from "#test/support/n8n.js";

const installed = n8nInstalled;
const required = n8nRequired;

if (!installed && required) {
  describe("a real n8n workflow", () => {
    it("needs n8n installed", () => {
      expect.fail(`n8n is not installed at ${n8nBin}; .ci/run installs it (see its n8n step)`);
    });
  });
}

describe.skipIf(!installed)("a real n8n workflow", () => {
  let mesh: Mesh;
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let home: string;
  beforeAll(async () => {
    mesh = await startMesh();
    database = await freshPostgresDatabase();
    home = await mkdtemp(join(tmpdir(), "flowforge-n8n-"));
  }, 120_000);
  afterAll(async () => {
    await mesh?.stop();
    await database?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /** An HTTP Request node (typeVersion 4.2) calling the gateway with the admin key, with the defaults otherwise. */
  const request = (
    name: string,
    x: number | [number, number],
    method: string,
    url: string,
    jsonBody?: string,
    extra: Record<string, unknown> = {},
  ) => ({
    id: name,
    name,
    type: "n8n-nodes-base.httpRequest",
    typeVersion: 4.2,
    position: typeof x === "number" ? [x, 0] : x,
    parameters: {
      method,
      url,
      sendHeaders: true,
      headerParameters: { parameters: [{ name: "Authorization", value: `Bearer ${mesh.adminKey}` }] },
      ...(jsonBody ? { sendBody: true, specifyBody: "json", jsonBody } : {}),
      options: {},
      ...extra,
    },
  });
  /** A form body (n8n's "Form-Data"): binary parts from the item's binary fields, and text parts. */
  const formBody = (files: [part: string, binaryField: string][], texts: [string, string][] = []) => ({
    sendBody: true,
    contentType: "multipart-form-data",
    bodyParameters: {
      parameters: [
        ...files.map(([name, field]) => ({ parameterType: "formBinaryData", name, inputDataFieldName: field })),
        ...texts.map(([name, value]) => ({ name, value })),
      ],
    },
  });
  /** The body as the item's binary field itself (n8n's "n8n Binary File"), its MIME type the Content-Type. */
  const fileBody = (field = "data") => ({ sendBody: true, contentType: "binaryData", inputDataFieldName: field });
  const trigger = {
    id: "start",
    name: "Start",
    type: "n8n-nodes-base.manualTrigger",
    typeVersion: 1,
    position: [0, 0],
    parameters: {},
  };
  /** Connections that run `nodes` one after another. */
  const chain = (...nodes: string[]) =>
    Object.fromEntries(
      nodes.slice(0, -1).map((from, i) => [from, { main: [[{ node: nodes[i + 1], type: "main", index: 0 }]] }]),
    );

  const execute = (workflow: { id: string; [key: string]: unknown }) => n8nAt(home, database.url).execute(workflow);
  /** The items a node put out on an output (0: main, 1: its error output), over all its runs. */
  const items = (runs: Record<string, NodeRun[]>, node: string, output = 0) => {
    expect(runs[node], `${node} ran`).toBeDefined();
    return runs[node].flatMap((r) => r.data.main[output] ?? []);
  };

  it("hashes, submits a batch and reads it back finished, all over REST", async () => {
    const base = mesh.url;
    const runs = await execute({
      id: "FlowForgeRest001",
      name: "FlowForge REST",
      nodes: [
        trigger,
        request("Hash", 200, "POST", `${base}/api/v1/crypto/hash`, '{"algorithm": "sha256", "text": "abc"}'),
        request(
          "Submit batch",
          400,
          "POST",
          `${base}/api/v1/crypto/hash:batch`,
          '={{ JSON.stringify({ items: [{ algorithm: "sha256", text: $json.digest }, { algorithm: "md5", text: "abc" }] }) }}',
        ),
        request("Read job", 600, "GET", `=${base}/api/v1/jobs/{{ $json.job.id }}?wait=30s`),
      ],
      connections: chain("Start", "Hash", "Submit batch", "Read job"),
      // What the editor gives a new workflow.
      settings: { executionOrder: "v1" },
    });
    const output = (node: string) => items(runs, node)[0].json;
    const digest = createHash("sha256").update("abc").digest("hex");
    expect(output("Hash").digest).toBe(digest);
    const job = output("Read job").job;
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(job.items.map((i: { index: number }) => i.index)).toEqual([0, 1]); // zero values included
    expect(job.items[0].result.digest).toBe(createHash("sha256").update(digest).digest("hex"));
    expect(job.items[1].result.digest).toBe(createHash("md5").update("abc").digest("hex"));
  }, 300_000);

  it("converts a CSV and an XLSX file from binary data, as a form part and as the body", async () => {
    const base = mesh.url;
    const rows = [
      { name: "ada", score: 3 },
      { name: "bob", score: 5 },
    ];
    const runs = await execute({
      id: "FlowForgeFiles001",
      name: "FlowForge data files",
      nodes: [
        trigger,
        {
          id: "rows",
          name: "Rows",
          type: "n8n-nodes-base.set",
          typeVersion: 3.4,
          position: [200, 0],
          parameters: { mode: "raw", jsonOutput: JSON.stringify({ rows }), options: {} },
        },
        {
          id: "split",
          name: "One item a row",
          type: "n8n-nodes-base.splitOut",
          typeVersion: 1,
          position: [400, 0],
          parameters: { fieldToSplitOut: "rows", options: {} },
        },
        {
          id: "csv",
          name: "CSV file",
          type: "n8n-nodes-base.convertToFile",
          typeVersion: 1.1,
          position: [600, 0],
          parameters: { operation: "csv", options: {} },
        },
        request("Convert form", 800, "POST", `${base}/api/v1/data/convert`, undefined, {
          ...formBody(
            [["input", "data"]],
            [
              ["from", "csv"],
              ["to", "json"],
            ],
          ),
        }),
        {
          id: "xlsx",
          name: "XLSX file",
          type: "n8n-nodes-base.convertToFile",
          typeVersion: 1.1,
          position: [600, 200],
          parameters: { operation: "xlsx", options: {} },
        },
        request("Convert XLSX body", 800, "POST", `${base}/api/v1/data/convert?from=xlsx&to=json`, undefined, {
          ...fileBody(),
        }),
        request("Convert CSV body", 800, "POST", `${base}/api/v1/data/convert?from=csv&to=json`, undefined, {
          ...fileBody(),
        }),
      ],
      connections: {
        ...chain("Start", "Rows", "One item a row"),
        "One item a row": {
          main: [
            [
              { node: "CSV file", type: "main", index: 0 },
              { node: "XLSX file", type: "main", index: 0 },
            ],
          ],
        },
        "CSV file": {
          main: [
            [
              { node: "Convert form", type: "main", index: 0 },
              { node: "Convert CSV body", type: "main", index: 0 },
            ],
          ],
        },
        "XLSX file": { main: [[{ node: "Convert XLSX body", type: "main", index: 0 }]] },
      },
      // What the editor gives a new workflow.
      settings: { executionOrder: "v1" },
    });
    expect(items(runs, "CSV file")[0].binary?.data.mimeType).toBe("text/csv");
    expect(items(runs, "Convert form")[0].json.data).toEqual(rows);
    expect(items(runs, "Convert CSV body")[0].json.data).toEqual(rows);
    expect(items(runs, "Convert XLSX body")[0].json.data).toEqual(rows);
  }, 300_000);

  it("merges two PDFs answered as binary data, no header needed, and reads a drawn page by OCR", async () => {
    const base = mesh.url;
    const markdown = (text: string) => JSON.stringify({ markdown: `# ${text}` });
    /** Response Format "File" with "Put Output in Field": where a file answer lands in the item's binary data. */
    const into = (field: string) => ({
      options: { response: { response: { responseFormat: "file", outputPropertyName: field } } },
    });
    const runs = await execute({
      id: "FlowForgePdf001",
      name: "FlowForge PDFs",
      nodes: [
        trigger,
        request("PDF one", 200, "POST", `${base}/api/v1/pdf/from-markdown?answer=file`, markdown("One"), into("one")),
        request("PDF two", 400, "POST", `${base}/api/v1/pdf/from-markdown?answer=file`, markdown("Two"), into("two")),
        request("Merge PDFs", 600, "POST", `${base}/api/v1/pdf/merge?answer=file`, undefined, {
          ...formBody([
            ["documents", "one"],
            ["documents", "two"],
          ]),
        }),
        request("Read merged", 800, "POST", `${base}/api/v1/pdf/extract-text`, undefined, { ...fileBody() }),
        request(
          "Draw page",
          [200, 200],
          "POST",
          `${base}/api/v1/pdf/from-markdown?answer=file`,
          markdown("Hello from n8n"),
          into("page"),
        ),
        request("Page image", [400, 200], "POST", `${base}/api/v1/pdf/render-pages?answer=file&dpi=150`, undefined, {
          ...fileBody("page"),
        }),
        request("OCR", [600, 200], "POST", `${base}/api/v1/ocr/recognize`, undefined, {
          ...formBody([["image", "data"]], [["languages", "eng"]]),
        }),
      ],
      connections: {
        Start: {
          main: [
            [
              { node: "PDF one", type: "main", index: 0 },
              { node: "Draw page", type: "main", index: 0 },
            ],
          ],
        },
        ...chain("PDF one", "PDF two", "Merge PDFs", "Read merged"),
        ...chain("Draw page", "Page image", "OCR"),
      },
      // What the editor gives a new workflow.
      settings: { executionOrder: "v1" },
    });
    // The merged PDF arrived as binary data, named and typed, with the default "Autodetect" response.
    const merged = items(runs, "Merge PDFs")[0].binary?.data;
    expect(merged?.mimeType).toBe("application/pdf");
    expect(merged?.fileName).toBe("merge.pdf");
    expect(items(runs, "Read merged")[0].json.pages.map((p: { text: string }) => p.text)).toEqual(["One", "Two"]);
    expect(items(runs, "Page image")[0].binary?.data.mimeType).toBe("image/png");
    expect(items(runs, "OCR")[0].json.text).toContain("Hello from n8n");
  }, 300_000);

  /**
   * How an n8n error output reads FlowForge's envelope: n8n puts the status in `error.status` and
   * the answer, as JSON text, after `<status> - ` in `error.message`.
   */
  const readError =
    "{ status: $json.error.status, error: JSON.parse(JSON.parse($json.error.message.replace(/^\\d+ - /, ''))).error }";

  it("one error branch handles a refused call and a batch whose every item failed", async () => {
    const base = mesh.url;
    const onError = { onError: "continueErrorOutput" };
    const runs = await execute({
      id: "FlowForgeErrors001",
      name: "FlowForge errors",
      nodes: [
        trigger,
        { ...request("Hash", 200, "POST", `${base}/api/v1/crypto/hash`, '{"text": "abc"}'), ...onError },
        {
          ...request(
            "Hash batch",
            200,
            "POST",
            `${base}/api/v1/crypto/hash:batch?wait=30s`,
            '{"items": [{"text": "abc"}, {"algorithm": "SHA-256"}]}',
          ),
          ...onError,
        },
        {
          id: "handle",
          name: "Handle error",
          type: "n8n-nodes-base.set",
          typeVersion: 3.4,
          position: [400, 0],
          parameters: { mode: "raw", jsonOutput: `={{ JSON.stringify(${readError}) }}`, options: {} },
        },
        { id: "ok", name: "Done", type: "n8n-nodes-base.noOp", typeVersion: 1, position: [400, 200], parameters: {} },
      ],
      connections: {
        Start: {
          main: [
            [
              { node: "Hash", type: "main", index: 0 },
              { node: "Hash batch", type: "main", index: 0 },
            ],
          ],
        },
        Hash: {
          main: [[{ node: "Done", type: "main", index: 0 }], [{ node: "Handle error", type: "main", index: 0 }]],
        },
        "Hash batch": {
          main: [[{ node: "Done", type: "main", index: 0 }], [{ node: "Handle error", type: "main", index: 0 }]],
        },
      },
      // What the editor gives a new workflow.
      settings: { executionOrder: "v1" },
    });
    expect(runs.Done).toBeUndefined();
    // Both refusals reached the one branch, where one expression reads the same envelope from each.
    const handled = items(runs, "Handle error").map((i) => i.json);
    expect(handled).toHaveLength(2);
    const byStatus = handled.map((h) => ({
      status: h.status,
      code: h.error.code,
      fields: h.error.details.map((d: { field: string }) => d.field),
    }));
    expect(byStatus).toEqual(
      expect.arrayContaining([
        { status: 400, code: "VALIDATION_ERROR", fields: ["algorithm"] },
        { status: 400, code: "VALIDATION_ERROR", fields: ["items[0].algorithm", "items[1].input"] },
      ]),
    );
    // The README shows this expression for n8n's error output.
    expect(readFileSync(join(root, "README.md"), "utf8")).toContain(readError);
  }, 300_000);
});
