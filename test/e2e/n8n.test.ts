/**
 * A real n8n (the npm package; `.ci/run` installs it into a cache outside the repo) executes a
 * workflow whose HTTP Request nodes call the gateway's REST routes: a hash, a batch submitted as
 * a job, and the job read back with `?wait=`. Where n8n is not installed the test is skipped,
 * unless FLOWFORGE_REQUIRE_N8N=1 (CI), which makes a missing n8n a failure.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPostgresDatabase } from "#test/support/databases.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";

const run = promisify(execFile);
const n8nDir = process.env.FLOWFORGE_N8N_DIR ?? join(homedir(), ".cache/flowforge/n8n");
const n8nBin = join(n8nDir, "node_modules/n8n/bin/n8n");
const installed = existsSync(n8nBin);
const required = process.env.FLOWFORGE_REQUIRE_N8N === "1";

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

  /** An HTTP Request node (typeVersion 4.2) calling the gateway with the admin key. */
  const request = (name: string, x: number, method: string, url: string, jsonBody?: string) => ({
    id: name,
    name,
    type: "n8n-nodes-base.httpRequest",
    typeVersion: 4.2,
    position: [x, 0],
    parameters: {
      method,
      url,
      sendHeaders: true,
      headerParameters: { parameters: [{ name: "Authorization", value: `Bearer ${mesh.adminKey}` }] },
      ...(jsonBody ? { sendBody: true, specifyBody: "json", jsonBody } : {}),
      options: {},
    },
  });

  it("hashes, submits a batch and reads it back finished, all over REST", async () => {
    const base = mesh.url;
    const workflow = {
      id: "FlowForgeRest001",
      name: "FlowForge REST",
      nodes: [
        {
          id: "start",
          name: "Start",
          type: "n8n-nodes-base.manualTrigger",
          typeVersion: 1,
          position: [0, 0],
          parameters: {},
        },
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
      connections: {
        Start: { main: [[{ node: "Hash", type: "main", index: 0 }]] },
        Hash: { main: [[{ node: "Submit batch", type: "main", index: 0 }]] },
        "Submit batch": { main: [[{ node: "Read job", type: "main", index: 0 }]] },
      },
      settings: {},
    };
    const file = join(home, "workflow.json");
    await writeFile(file, JSON.stringify(workflow));
    const db = new URL(database.url);
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      N8N_USER_FOLDER: home,
      N8N_ENCRYPTION_KEY: "flowforge-test-key",
      DB_TYPE: "postgresdb",
      DB_POSTGRESDB_HOST: db.hostname,
      DB_POSTGRESDB_PORT: db.port || "5432",
      DB_POSTGRESDB_DATABASE: db.pathname.slice(1),
      DB_POSTGRESDB_USER: decodeURIComponent(db.username) || "postgres",
      DB_POSTGRESDB_PASSWORD: decodeURIComponent(db.password),
      N8N_DIAGNOSTICS_ENABLED: "false",
      N8N_VERSION_NOTIFICATIONS_ENABLED: "false",
      N8N_PERSONALIZATION_ENABLED: "false",
      N8N_LOG_LEVEL: "info",
      N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: "false",
      // n8n's isolated-vm engine is a native build, skipped with the install scripts.
      N8N_EXPRESSION_ENGINE: "legacy",
    };
    /** Runs an n8n CLI command; a failure shows what n8n printed. */
    const n8n = (...args: string[]) =>
      run(process.execPath, [n8nBin, ...args], { cwd: home, env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 }).catch(
        (err: { message: string; stdout?: string; stderr?: string }) => {
          throw new Error(`${err.message}\nstdout: ${err.stdout?.slice(-4000)}\nstderr: ${err.stderr?.slice(-4000)}`);
        },
      );
    // n8n executes stored workflows: import it, then execute it by id.
    await n8n("import:workflow", `--input=${file}`);
    const { stdout } = await n8n("execute", `--id=${workflow.id}`, "--rawOutput");
    // --rawOutput prints the execution's data as JSON.
    if (!stdout.includes("{")) throw new Error(`n8n printed no execution: ${stdout}`);
    const data = JSON.parse(stdout.slice(stdout.indexOf("{")));
    const runData = data.data?.resultData?.runData ?? data.resultData?.runData;
    const output = (node: string) => runData[node][0].data.main[0][0].json;
    const digest = createHash("sha256").update("abc").digest("hex");
    expect(output("Hash").digest).toBe(digest);
    const job = output("Read job").job;
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(job.items.map((i: { index: number }) => i.index)).toEqual([0, 1]); // zero values included
    expect(job.items[0].result.digest).toBe(createHash("sha256").update(digest).digest("hex"));
    expect(job.items[1].result.digest).toBe(createHash("md5").update("abc").digest("hex"));
  }, 300_000);
});
