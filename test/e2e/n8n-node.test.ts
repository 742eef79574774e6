/**
 * The n8n community node package (sdk/n8n) as a workflow builder installs it: `npm pack`, then
 * installed into the real n8n's community-nodes folder; its example workflows (hash a text, merge
 * two PDFs from binary data and read the result back, hash rows as one job) run there against a
 * real mesh; a refused input stops the workflow with the field named, and a wrong key and a gateway
 * that does not answer are each reported with their cause.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPostgresDatabase } from "#test/support/databases.js";
import { freePort, root, startMesh, type Mesh } from "#test/support/mesh.js";
import { n8nAt, n8nInstalled, n8nRequired, type NodeRun } from "#test/support/n8n.js";

const run = promisify(execFile);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const example = (name: string) => JSON.parse(readFileSync(join(root, "sdk/n8n/examples", `${name}.json`), "utf8"));

describe.skipIf(!n8nInstalled && !n8nRequired)("the FlowForge n8n nodes in a real n8n", () => {
  let mesh: Mesh;
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let home: string;
  let n8n: ReturnType<typeof n8nAt>;

  beforeAll(async () => {
    mesh = await startMesh();
    database = await freshPostgresDatabase();
    home = mkdtempSync(join(tmpdir(), "flowforge-n8n-node-"));
    // Installed as n8n installs a community package: into <user folder>/.n8n/nodes.
    const nodes = join(home, ".n8n/nodes");
    mkdirSync(nodes, { recursive: true });
    await run("npm", ["pack", "--pack-destination", nodes, "--silent"], {
      cwd: join(root, "sdk/n8n"),
      timeout: 120_000,
    });
    const tarball = readdirSync(nodes).find((f) => f.endsWith(".tgz"))!;
    writeFileSync(
      join(nodes, "package.json"),
      JSON.stringify({
        name: "installed-nodes",
        private: true,
        dependencies: { "n8n-nodes-flowforge": `file:./${tarball}` },
      }),
    );
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: nodes,
      timeout: 120_000,
    });
    // The examples' credential reads the gateway and the key from the environment.
    n8n = n8nAt(home, database.url, {
      FLOWFORGE_URL: mesh.url,
      FLOWFORGE_API_KEY: mesh.adminKey,
      N8N_BLOCK_ENV_ACCESS_IN_NODE: "false",
    });
    await n8n.importCredentials(JSON.parse(readFileSync(join(root, "sdk/n8n/examples/credentials.json"), "utf8")));
  }, 300_000);

  afterAll(async () => {
    await mesh?.stop();
    await database?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const items = (runs: Record<string, NodeRun[]>, node: string) => {
    expect(runs[node], `${node} ran`).toBeDefined();
    expect(runs[node][0].error, `${node} failed`).toBeUndefined();
    return runs[node].flatMap((r) => r.data.main[0] ?? []);
  };

  it("lists its nodes and credential in package.json, a node per capability", () => {
    const pkg = JSON.parse(
      readFileSync(join(home, ".n8n/nodes/node_modules/n8n-nodes-flowforge/package.json"), "utf8"),
    );
    expect(pkg.keywords).toContain("n8n-community-node-package");
    expect(pkg.n8n.credentials).toEqual(["dist/credentials/FlowForgeApi.credentials.js"]);
    expect(pkg.n8n.nodes).toEqual(
      expect.arrayContaining([
        "dist/nodes/FlowForgeCrypto/FlowForgeCrypto.node.js",
        "dist/nodes/FlowForgePdf/FlowForgePdf.node.js",
      ]),
    );
  });

  it("hashes a text (examples/hash.json)", async () => {
    const runs = await n8n.execute(example("hash"));
    expect(items(runs, "Hash")[0].json.digest).toBe(sha256("abc"));
  }, 300_000);

  it("merges two PDFs from binary data and reads the merged file back (examples/merge-pdfs.json)", async () => {
    const runs = await n8n.execute(example("merge-pdfs"));
    const merged = items(runs, "Merge PDFs")[0];
    expect(merged.binary?.data.mimeType).toBe("application/pdf");
    expect(merged.binary?.data.fileName).toBe("merge.pdf");
    expect(items(runs, "Read Merged")[0].json.pages.map((p: { text: string }) => p.text)).toEqual(["One", "Two"]);
  }, 300_000);

  it("hashes rows as one job, each item with its result or its error (examples/batch.json)", async () => {
    const runs = await n8n.execute(example("batch"));
    const out = items(runs, "Hash as a Job").map((i) => i.json);
    expect(out.map((o) => o.digest ?? o.error.code)).toEqual([sha256("abc"), sha256("flowforge"), "VALIDATION_ERROR"]);
    expect(out[2].error.details[0].field).toBe("input");
    expect(new Set(out.map((o) => o.jobId)).size).toBe(1);
  }, 300_000);

  it("runs more rows than a page of a job's items as one job: every row's result, in order", async () => {
    const workflow = example("batch");
    workflow.id = "FlowForgeNodeManyRows";
    const texts = Array.from({ length: 250 }, (_, i) => `row ${i}`);
    workflow.nodes.find((n: { id: string }) => n.id === "rows").parameters.jsonOutput = JSON.stringify({
      rows: texts.map((text) => ({ text })),
    });
    const out = items(await n8n.execute(workflow), "Hash as a Job").map((i) => i.json);
    expect(out.map((o) => o.digest)).toEqual(texts.map(sha256));
    expect(new Set(out.map((o) => o.jobId)).size).toBe(1);
  }, 300_000);

  it("takes options, lists and nested settings as parameters (examples/fields.json)", async () => {
    const runs = await n8n.execute(example("fields"));
    // A collection (the CSV settings) and enums as options.
    expect(items(runs, "Semicolon CSV to JSON")[0].json.data).toEqual([{ a: 1, b: 2 }]);
    // Lists as comma-separated text and as a JSON list.
    const described = items(runs, "Describe")[0].json;
    expect([described.mean, described.median, described.quantiles]).toEqual([5, 4.5, [{ p: 0.5, value: 4.5 }]]);
  }, 300_000);

  it("stops a workflow whose input is refused, naming the field", async () => {
    const workflow = example("hash");
    workflow.id = "FlowForgeNodeRefused";
    workflow.nodes[1] = {
      ...workflow.nodes[1],
      type: "n8n-nodes-flowforge.flowForgeMath",
      parameters: { operation: "Evaluate", expression: "1 +" },
    };
    const runs = await n8n.execute(workflow).then(
      (r) => r,
      (err: Error) => err.message,
    );
    const text = typeof runs === "string" ? runs : JSON.stringify(runs.Hash?.[0]?.error ?? runs);
    expect(text).toMatch(/VALIDATION_ERROR: expression: /);
  }, 300_000);

  it("reports a wrong key, a gateway that does not answer and a missing file, each with its cause (on the error output)", async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    await n8n.importCredentials([
      { id: "wrongkey", name: "Wrong Key", type: "flowForgeApi", data: { url: mesh.url, apiKey: "ffk_wrong" } },
      { id: "nowhere", name: "Nowhere", type: "flowForgeApi", data: { url: nowhere, apiKey: mesh.adminKey } },
    ]);
    const workflow = example("hash");
    workflow.id = "FlowForgeNodeUnreachable";
    const hash = workflow.nodes[1];
    workflow.nodes = [
      workflow.nodes[0],
      ...[
        ["Wrong Key", "wrongkey"],
        ["Nowhere", "nowhere"],
      ].map(([name, id], i) => ({
        ...hash,
        id,
        name,
        position: [200, 200 * i],
        onError: "continueRegularOutput",
        credentials: { flowForgeApi: { id, name } },
      })),
    ];
    // A file parameter naming binary data the item does not have: refused before any call.
    workflow.nodes.push({
      ...hash,
      id: "missing",
      name: "Missing File",
      type: "n8n-nodes-flowforge.flowForgePdf",
      position: [200, 400],
      onError: "continueRegularOutput",
      parameters: { operation: "Merge", documents: "nothing" },
    });
    workflow.connections = {
      Start: {
        main: [
          [
            { node: "Wrong Key", type: "main", index: 0 },
            { node: "Nowhere", type: "main", index: 0 },
            { node: "Missing File", type: "main", index: 0 },
          ],
        ],
      },
    };
    const runs = await n8n.execute(workflow);
    const wrongKey = items(runs, "Wrong Key")[0].json.error;
    expect(wrongKey.code).toBe("UNAUTHORIZED");
    const unreachable = items(runs, "Nowhere")[0].json.error;
    expect(unreachable.code).toBe("SERVICE_UNAVAILABLE");
    expect(unreachable.message).toContain(nowhere);
    expect(unreachable.message).toMatch(/ECONNREFUSED/);
    // Refused in the gateway's shape, naming the parameter, before anything was sent.
    const missing = items(runs, "Missing File")[0].json.error;
    expect(missing.code).toBe("VALIDATION_ERROR");
    expect(missing.details).toEqual([
      {
        field: "documents",
        message: expect.stringMatching(/^item 0 has no binary data named "nothing" \(it has: none\)/),
      },
    ]);
  }, 300_000);
});
