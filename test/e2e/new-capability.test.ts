/**
 * Adding capabilities as a contributor would, from the "Adding a capability" section of docs/contributing.md:
 * in a copy of this repository, their files are written as that page shows them (echo, with a
 * setting of its own; ping, with jobs: false), `npm run generate` runs, and `npm start` then
 * serves echo directly over gRPC, through the gateway and as a job (its workers in its own
 * process), and ping at once but never as a job, with no other edit.
 */
import { execFile } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  existsSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root, startMesh, type Mesh } from "../support/mesh.js";
import { waitFor } from "../support/until.js";

const run = promisify(execFile);
const guide = readFileSync(join(root, "docs/contributing.md"), "utf8");
const section = guide.slice(
  guide.indexOf("## Adding a capability"),
  guide.indexOf("\n## ", guide.indexOf("## Adding a capability") + 3),
);
const files = [...section.matchAll(/<!-- file: (\S+) -->\n```\w+\n([\s\S]*?)```/g)].map((m) => ({
  path: m[1],
  content: m[2],
}));

let copy: string;
let mesh: Mesh | undefined;

beforeAll(async () => {
  copy = mkdtempSync(join(tmpdir(), "flowforge-new-capability-"));
  const { stdout } = await run("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
    cwd: root,
    maxBuffer: 64 << 20,
  });
  for (const file of stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(root, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    copyFileSync(join(root, file), join(copy, file));
  }
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  // What the contributor does: the contract, generate, the folder, generate again.
  for (const { path, content } of files) {
    mkdirSync(dirname(join(copy, path)), { recursive: true });
    writeFileSync(join(copy, path), content);
  }
  await run("npm", ["run", "generate"], { cwd: copy, timeout: 120_000 });
  // Its own setting, given as an operator would.
  mesh = await startMesh({ ECHO_MAX_TIMES: "5" }, { root: copy });
}, 240_000);

afterAll(async () => {
  await mesh?.stop();
  if (copy) rmSync(copy, { recursive: true, force: true });
});

const echo = (body: object, path = "/flowforge.echo.v1.EchoService/Echo") =>
  fetch(`${mesh!.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${mesh!.adminKey}` },
    body: JSON.stringify(body),
  });

describe("a capability added as docs/contributing.md says", () => {
  it("the guide shows the files: echo's three, and ping's two", () => {
    expect(files.map((f) => f.path)).toEqual([
      "proto/flowforge/echo/v1/echo.proto",
      "services/echo/service.ts",
      "services/echo/capability.ts",
      "proto/flowforge/ping/v1/ping.proto",
      "services/ping/capability.ts",
    ]);
  });

  it("npm run generate derived everything that lists capabilities", () => {
    expect(readFileSync(join(copy, "gen/flowforge/capabilities.ts"), "utf8")).toMatch(
      /import echo from "..\/..\/services\/echo\/capability.js"/,
    );
    expect(readFileSync(join(copy, "docker-compose.yml"), "utf8")).toMatch(
      /\n {2}echo:\n[\s\S]*ECHO_ADDR: dns:\/\/\/echo:50051/,
    );
    expect(readFileSync(join(copy, "k8s/base/echo.yaml"), "utf8")).toMatch(
      /command: \["node", "dist\/services\/main.js", "echo"\]/,
    );
    expect(readFileSync(join(copy, "k8s/base/kustomization.yaml"), "utf8")).toMatch(/- echo.yaml/);
    const page = (name: string) => readFileSync(join(copy, name), "utf8");
    expect(page("docs/contributing.md")).toMatch(/- `echo`: `flowforge.echo.v1.EchoService`/);
    expect(page("docs/operating.md")).toMatch(
      /\| echo \| `ECHO_MAX_TIMES` \| `10` \| the most repeats an Echo may ask for \|/,
    );
    // Its routes in the README, in a table of its own under routes:more, and its scope listed.
    const readme = page("README.md");
    expect(readme).toMatch(
      /### `echo`\n\n\| method \| route[^\n]*\n[^\n]*\n\| `EchoService\/Echo` \| `POST \/api\/v1\/echo\/echo` \| `\/api\/v1\/echo\/echo:batch` \|/,
    );
    expect(readme).toMatch(/- `echo`: `flowforge.echo.v1.EchoService`/);
    // The services `buf curl --list-services` lists, as the README's example expects them.
    expect(page("docs/protocols.md")).toMatch(/```text\n(flowforge\.\S+\n)*flowforge\.echo\.v1\.EchoService\n/);
  });

  it("is served directly over gRPC, with reflection", async () => {
    const serving = mesh!
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .find((l) => l.name === "echo" && l.msg === "serving");
    const { stdout } = await run(
      "npx",
      [
        "buf",
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "-d",
        '{"text":"ab","times":2}',
        `http://127.0.0.1:${serving.port}/flowforge.echo.v1.EchoService/Echo`,
      ],
      { cwd: root, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ text: "abab" });
  });

  it("is routed by the gateway, bad input naming the field", async () => {
    const ok = await echo({ text: "hi", times: 3 });
    expect(await ok.json()).toEqual({ text: "hihihi" });
    // ECHO_MAX_TIMES=5 reached the capability through its declaration's settings.
    const bad = await echo({ text: "hi", times: 6 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toBe("times: must be at most 5");
    const health = await (await fetch(`${mesh!.url}/healthz`)).json();
    expect(health.services.echo).toBe("SERVING");
    // Its REST route, from its google.api.http option, with the :batch twin every job-capable method gets.
    const rest = await echo({ text: "yo", times: 2 }, "/api/v1/echo/echo");
    expect(await rest.json()).toEqual({ text: "yoyo" });
    const batch = await echo({ items: [{ text: "x" }] }, "/api/v1/echo/echo:batch?wait=30s");
    expect((await batch.json()).job.items[0].result.text).toBe("x");
    const doc = await (await fetch(`${mesh!.url}/api/v1/echo/openapi.json`)).json();
    expect(doc.paths["/api/v1/echo/echo"].post.requestBody.content["application/json"].example).toEqual({
      text: "hi",
      times: 2,
    });
  });

  it("runs as a job", async () => {
    const items = ["a", "b", "c"].map((text) => ({
      "@type": "type.googleapis.com/flowforge.echo.v1.EchoRequest",
      text,
      times: 2,
    }));
    const submitted = await (
      await echo({ method: "flowforge.echo.v1.EchoService/Echo", items }, "/flowforge.jobs.v1.JobService/SubmitJob")
    ).json();
    expect(submitted.job.counts.total).toBe(3);
    type Job = { state: string; items: { result: { text: string } }[] };
    const job = await waitFor(
      async () => {
        const now = (await (await echo({ jobId: submitted.job.id }, "/flowforge.jobs.v1.JobService/GetJob")).json())
          .job as Job;
        return now.state === "JOB_STATE_QUEUED" || now.state === "JOB_STATE_RUNNING" ? undefined : now;
      },
      { what: "the job to end" },
    );
    expect(job?.state).toBe("JOB_STATE_SUCCEEDED");
    expect(job?.items.map((i) => i.result.text)).toEqual(["aa", "bb", "cc"]);
  });

  it("a capability with jobs: false is served at once, and never as a job", async () => {
    const pong = await echo({}, "/flowforge.ping.v1.PingService/Ping");
    expect(await pong.json()).toEqual({ message: "pong" });
    expect(await (await echo({}, "/api/v1/ping/ping")).json()).toEqual({ message: "pong" });
    // No :batch twin, in the routes or the OpenAPI document.
    expect((await echo({ items: [{}] }, "/api/v1/ping/ping:batch")).status).toBe(404);
    const doc = await (await fetch(`${mesh!.url}/openapi.json`)).json();
    expect(Object.keys(doc.paths)).toContain("/api/v1/ping/ping");
    expect(Object.keys(doc.paths)).not.toContain("/api/v1/ping/ping:batch");
    expect(Object.keys(doc.paths)).toContain("/api/v1/echo/echo:batch");
    // SubmitJob refuses its method, naming the field.
    const refused = await echo(
      {
        method: "flowforge.ping.v1.PingService/Ping",
        items: [{ "@type": "type.googleapis.com/flowforge.ping.v1.PingRequest" }],
      },
      "/flowforge.jobs.v1.JobService/SubmitJob",
    );
    expect(refused.status).toBe(400);
    expect((await refused.json()).details[0].debug.fieldViolations[0].field).toBe("method");
  });
});
