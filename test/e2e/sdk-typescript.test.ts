/**
 * The TypeScript SDK as someone outside this repository gets it: `npm pack` of sdk/typescript,
 * installed into a fresh project in the system's temp directory; a TypeScript program there,
 * type-checked against the package's declarations through its exports map, calls the real mesh
 * over Connect, gRPC-Web and gRPC, reads errors, runs a batch and leaves a job's watch early; a page
 * in Chromium, on another
 * origin, bundles it and calls the gateway; its `flowforge` command is
 * run as a user would, for answers, files, jobs, help and each exit code.
 */
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobService, JobState } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import { connectClient } from "../support/clients.js";
import { freePort, root, startMesh, type Mesh } from "../support/mesh.js";
import { waitFor } from "../support/until.js";

const run = promisify(execFile);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const tsc = join(root, "node_modules/typescript/bin/tsc");

let mesh: Mesh;
let project: string;

/** The consumer program: every answer it gets, as one JSON line. */
const consumer = `
import { createFlowForge, FlowForgeError, services } from "@flowforge/sdk";
import { createNodeFlowForge } from "@flowforge/sdk/node";
import { HashAlgorithm } from "@flowforge/sdk/gen/flowforge/crypto/v1/crypto_pb.js";
import { JobState } from "@flowforge/sdk/gen/flowforge/jobs/v1/jobs_pb.js";
import { DataFormat } from "@flowforge/sdk/gen/flowforge/transform/v1/transform_pb.js";

const [baseUrl, apiKey] = process.argv.slice(2);
const abc = { algorithm: HashAlgorithm.SHA256, input: { case: "text" as const, value: "abc" } };
const out: Record<string, unknown> = {};
const failure = async (call: () => Promise<unknown>) => {
  try {
    await call();
    return "no error";
  } catch (err) {
    if (!(err instanceof FlowForgeError)) return \`not a FlowForgeError: \${String(err)}\`;
    return { code: err.codeName, violations: err.violations, requestId: typeof err.requestId };
  }
};

const ff = createFlowForge({ baseUrl, apiKey });
out.connect = (await ff.crypto.hash(abc)).digest;
out.grpcWeb = (await createFlowForge({ baseUrl, apiKey, protocol: "grpc-web" }).crypto.hash(abc)).digest;
out.grpc = (await createNodeFlowForge({ baseUrl, apiKey, protocol: "grpc" }).crypto.hash(abc)).digest;
out.data = (await ff.data.convert({ input: "a,b\\n1,2\\n", from: DataFormat.CSV, to: DataFormat.JSON })).output;
out.missing = await failure(() => ff.crypto.hash({ input: { case: "text", value: "abc" } }));
out.wrongKey = await failure(() => createFlowForge({ baseUrl, apiKey: "ffk_wrong" }).crypto.hash(abc));
out.unreachable = await failure(() => createFlowForge({ baseUrl: process.argv[4], apiKey }).crypto.hash(abc));

const progress: number[] = [];
const outcomes = await ff.batches.run(services.crypto.method.hash, [abc, { input: { case: "text", value: "x" } }], {
  onProgress: (p) => progress.push(p.succeeded + p.failed),
});
out.batch = outcomes.map((o) => (o.ok ? o.value.digest : o.error.violations.map((v) => v.field)));
out.progress = progress.at(-1);

const job = await ff.batches.submit(services.crypto.method.hash, [abc]);
const states: string[] = [];
for await (const event of ff.batches.watch(job.id))
  if (event.event.case === "stateChanged") states.push(JobState[event.event.value.state]);
out.states = states;

// Leaving a watch early closes its stream: the program exits while this job still runs.
const slow = await ff.batches.submit(
  services.crypto.method.hashPassword,
  Array.from({ length: 40 }, () => ({ password: "p", params: { memoryKib: 65_536, iterations: 3 } })),
);
for await (const event of createNodeFlowForge({ baseUrl, apiKey }).batches.watch(slow.id)) {
  out.firstEvent = event.event.case;
  break;
}
out.slowJob = slow.id;
console.log(JSON.stringify(out));
`;

/** The browser program: the gateway and key from the page's fragment; its answers on `window.result`. */
const browserProgram = `
import { createFlowForge, FlowForgeError } from "@flowforge/sdk";
import { HashAlgorithm } from "@flowforge/sdk/gen/flowforge/crypto/v1/crypto_pb.js";

const { url, key } = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const abc = { algorithm: HashAlgorithm.SHA256, input: { case: "text" as const, value: "abc" } };
const out: Record<string, unknown> = {};
try {
  out.connect = (await createFlowForge({ baseUrl: url, apiKey: key }).crypto.hash(abc)).digest;
  out.grpcWeb = (await createFlowForge({ baseUrl: url, apiKey: key, protocol: "grpc-web" }).crypto.hash(abc)).digest;
  try {
    await createFlowForge({ baseUrl: url, apiKey: key }).crypto.hash({ input: { case: "text", value: "abc" } });
  } catch (err) {
    out.missing = err instanceof FlowForgeError ? err.violations.map((v) => v.field) : String(err);
  }
} catch (err) {
  out.failure = String(err);
}
(window as unknown as { result: unknown }).result = out;
`;

beforeAll(async () => {
  mesh = await startMesh();
  project = mkdtempSync(join(tmpdir(), "flowforge-sdk-consumer-"));
  // The package as npm publishes it (prepack builds it).
  await run("npm", ["pack", "--pack-destination", project, "--silent"], {
    cwd: join(root, "sdk/typescript"),
    timeout: 120_000,
  });
  const tarball = readdirSync(project).find((f) => f.endsWith(".tgz"))!;
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({
      name: "consumer",
      private: true,
      type: "module",
      dependencies: { "@flowforge/sdk": `file:./${tarball}` },
    }),
  );
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: project,
    timeout: 180_000,
  });
  mkdirSync(join(project, "src"));
  writeFileSync(join(project, "src/consumer.ts"), consumer);
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        rootDir: "src",
        outDir: "dist",
        // Node's types from this repository's install (the consumer installs only the SDK).
        typeRoots: [join(root, "node_modules/@types")],
        types: ["node"],
        lib: ["ES2022", "DOM"],
        skipLibCheck: false,
      },
      include: ["src"],
    }),
  );
}, 300_000);

afterAll(async () => {
  await mesh?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe("the TypeScript SDK, installed from its packed tarball", () => {
  it("ships an exports map, declarations and the flowforge command", () => {
    const pkg = JSON.parse(readFileSync(join(project, "node_modules/@flowforge/sdk/package.json"), "utf8"));
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining([".", "./node", "./gen/*.js"]));
    expect(pkg.bin.flowforge).toBe("./bin/flowforge.js");
    // Its version follows the contracts' (the repository's).
    expect(pkg.version).toBe(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version);
    const files = readdirSync(join(project, "node_modules/@flowforge/sdk/dist"));
    expect(files).toEqual(expect.arrayContaining(["index.js", "index.d.ts", "node.d.ts", "cli.js"]));
    // Nothing of the repository's internals: the job bus's contract stays out.
    expect(readdirSync(join(project, "node_modules/@flowforge/sdk/dist/gen/flowforge"))).not.toContain("bus");
  });

  it("type-checks a program against it and calls the mesh over every protocol, errors and jobs included", async () => {
    await run(process.execPath, [tsc, "-p", project], { cwd: project, timeout: 120_000 });
    const nobody = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const { stdout } = await run(
      process.execPath,
      [join(project, "dist/consumer.js"), mesh.url, mesh.adminKey, nobody],
      {
        cwd: project,
        timeout: 60_000,
      },
    );
    const out = JSON.parse(stdout);
    expect([out.connect, out.grpcWeb, out.grpc]).toEqual([sha256("abc"), sha256("abc"), sha256("abc")]);
    expect(JSON.parse(out.data)).toEqual([{ a: 1, b: 2 }]);
    expect(out.missing).toEqual({
      code: "invalid_argument",
      violations: [{ field: "algorithm", description: "is required" }],
      requestId: "string",
    });
    expect(out.wrongKey.code).toBe("unauthenticated");
    expect(out.unreachable.code).toBe("unavailable");
    expect(out.batch).toEqual([sha256("abc"), ["algorithm"]]);
    expect(out.progress).toBe(2);
    expect(out.states.at(-1)).toBe("SUCCEEDED");
    // The program left a watch after its first event and exited by itself before that job was done.
    expect(out.firstEvent).toBeDefined();
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const { job } = await jobs.getJob({ jobId: out.slowJob });
    expect([JobState.QUEUED, JobState.RUNNING]).toContain(job!.state);
    await jobs.cancelJob({ jobId: out.slowJob });
  });

  it("runs in a browser: a page on another origin, bundling it, calls the gateway over Connect and gRPC-Web", async () => {
    writeFileSync(join(project, "src/browser.ts"), browserProgram);
    await build({
      entryPoints: [join(project, "src/browser.ts")],
      bundle: true,
      format: "esm",
      platform: "browser",
      outfile: join(project, "web/app.js"),
      absWorkingDir: project,
      logLevel: "silent",
    });
    const server = createServer((req, res) => {
      const script = req.url === "/app.js";
      res.setHeader("content-type", script ? "text/javascript" : "text/html");
      res.end(
        script
          ? readFileSync(join(project, "web/app.js"))
          : '<!doctype html><title>sdk</title><script type="module" src="/app.js"></script>',
      );
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(
        `http://127.0.0.1:${port}/#${encodeURIComponent(JSON.stringify({ url: mesh.url, key: mesh.adminKey }))}`,
      );
      await page.waitForFunction(() => "result" in window, undefined, { timeout: 30_000 });
      const out = await page.evaluate(() => (window as unknown as { result: Record<string, unknown> }).result);
      expect(out).toEqual({ connect: sha256("abc"), grpcWeb: sha256("abc"), missing: ["algorithm"] });
    } finally {
      await browser.close();
      server.close();
    }
  });

  it("fails to type-check a program that misuses the types", async () => {
    writeFileSync(
      join(project, "src/wrong.ts"),
      `import { createFlowForge } from "@flowforge/sdk";\ncreateFlowForge({ baseUrl: "x" }).crypto.hash({ algorithm: "sha256" });\n`,
    );
    const checked = await run(process.execPath, [tsc, "-p", project, "--noEmit"], { cwd: project }).then(
      () => "passed",
      (err: { stdout: string }) => err.stdout,
    );
    rmSync(join(project, "src/wrong.ts"));
    expect(checked).toMatch(/wrong\.ts.*error TS2322/);
  });
});

describe("the flowforge command", () => {
  /** Runs the installed command; answers its output and exit code. */
  const flowforge = async (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(join(project, "node_modules/.bin/flowforge"), args, {
      cwd: project,
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: project, FLOWFORGE_URL: mesh.url, FLOWFORGE_API_KEY: mesh.adminKey, ...env },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({
        code: err.code,
        stdout: err.stdout,
        stderr: err.stderr,
      }),
    );

  it("calls a method by its short name or its full one, with JSON or flags, the key from flags, env or its config file", async () => {
    const short = await flowforge(["call", "crypto.hash", '{"algorithm":"sha256","text":"abc"}']);
    expect(short).toMatchObject({ code: 0 });
    expect(JSON.parse(short.stdout).digest).toBe(sha256("abc"));
    const full = await flowforge(
      [
        "--url",
        mesh.url,
        "--key",
        mesh.adminKey,
        "call",
        "flowforge.crypto.v1.CryptoService/Hash",
        "--algorithm",
        "SHA-256",
        "--text",
        "x",
      ],
      { FLOWFORGE_URL: "", FLOWFORGE_API_KEY: "" },
    );
    expect(JSON.parse(full.stdout).digest).toBe(sha256("x"));
    mkdirSync(join(project, ".config/flowforge"), { recursive: true });
    writeFileSync(
      join(project, ".config/flowforge/config.json"),
      JSON.stringify({ url: mesh.url, key: mesh.adminKey }),
    );
    const configured = await flowforge(
      ["call", "data.convert", "--input", "a\n1\n", "--from", "csv", "--to", "json", "--output", "table"],
      {
        FLOWFORGE_URL: "",
        FLOWFORGE_API_KEY: "",
      },
    );
    expect(configured.code).toBe(0);
    // A table of the answer's records.
    expect(configured.stdout).toBe("a\n-\n1\n");
  });

  it("reads files from paths and writes answered files: two PDFs merged, then read back", async () => {
    for (const text of ["One", "Two"]) {
      const made = await flowforge([
        "call",
        "pdf.from-markdown",
        "--markdown",
        `# ${text}`,
        "--out",
        join(project, `${text}.pdf`),
      ]);
      expect(made.code).toBe(0);
      expect(
        readFileSync(join(project, `${text}.pdf`))
          .subarray(0, 5)
          .toString(),
      ).toBe("%PDF-");
    }
    const merged = await flowforge([
      "call",
      "pdf.merge",
      "--documents",
      `@${join(project, "One.pdf")}`,
      "--documents",
      `@${join(project, "Two.pdf")}`,
      "--out",
      join(project, "merged.pdf"),
    ]);
    expect(JSON.parse(merged.stdout).pageCount).toBe(2);
    const text = await flowforge(["call", "pdf.extract-text", "--document", `@${join(project, "merged.pdf")}`]);
    expect(JSON.parse(text.stdout).pages.map((p: { text: string }) => p.text)).toEqual(["One", "Two"]);
  });

  it("runs a CSV as a job with progress, each item's outcome printed, a failed item failing the command; streams its events", async () => {
    writeFileSync(join(project, "items.csv"), "algorithm,text\nsha256,abc\nmd5,abc\n,oops\n");
    const batch = await flowforge(["submit", "crypto.hash", "--items", join(project, "items.csv"), "--wait"]);
    expect(batch.code).toBe(1);
    const answer = JSON.parse(batch.stdout);
    expect(answer.items.map((i: { ok: boolean }) => i.ok)).toEqual([true, true, false]);
    expect(answer.items[0].result.digest).toBe(sha256("abc"));
    expect(answer.items[2].error).toMatchObject({ code: "invalid_argument", fields: [{ field: "algorithm" }] });
    expect(batch.stderr).toMatch(/3\/3 {2}2 succeeded, 1 failed/);
    // A stream's answers, one JSON line each: the finished job's events, replayed in order.
    const events = await flowforge(["call", "JobService/WatchJob", "--job-id", answer.job]);
    expect(events.code).toBe(0);
    const lines = events.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const sequences = lines.map((l) => Number(l.sequence));
    expect(sequences.every((n, i) => n > (sequences[i - 1] ?? 0))).toBe(true);
    expect(
      lines
        .filter((l) => l.itemFinished)
        .map((l) => l.itemFinished.item.index)
        .sort(),
    ).toEqual([0, 1, 2]);
    expect(lines.at(-1).stateChanged.state).toBe("JOB_STATE_FAILED");
  }, 120_000);

  it("manages keys and reads usage: a key made, used, listed and revoked", async () => {
    const made = await flowforge([
      "keys",
      "create",
      "--tenant-id",
      "cli",
      "--name",
      "from the cli",
      "--tier",
      "pro",
      "--scopes",
      "crypto,data",
    ]);
    expect(made.code).toBe(0);
    const { apiKey, secret } = JSON.parse(made.stdout);
    expect([apiKey.tenantId, apiKey.tier, apiKey.scopes]).toEqual(["cli", "TIER_PRO", ["crypto", "data"]]);
    const used = await flowforge(["call", "crypto.hash", "--algorithm", "md5", "--text", "a"], {
      FLOWFORGE_API_KEY: secret,
    });
    expect(used.code).toBe(0);
    const whoami = await flowforge(["whoami"], { FLOWFORGE_API_KEY: secret });
    expect(JSON.parse(whoami.stdout).tenantId).toBe("cli");
    const listed = await flowforge(["keys", "list", "--tenant-id", "cli"]);
    expect(JSON.parse(listed.stdout).apiKeys.map((k: { id: string }) => k.id)).toContain(apiKey.id);
    // Usage is written in batches: wait until the key's call is there.
    const usage = await waitFor(
      async () => {
        const read = await flowforge(["usage"], { FLOWFORGE_API_KEY: secret });
        expect(read.code).toBe(0);
        const rows = JSON.parse(read.stdout).usage as { keyId: string; method: string; calls: string }[];
        return rows.find((u) => u.keyId === apiKey.id && u.method.endsWith("CryptoService/Hash"));
      },
      { ms: 30_000, what: "the key's Hash call in its usage" },
    );
    expect(Number(usage.calls)).toBeGreaterThanOrEqual(1);
    expect((await flowforge(["keys", "revoke", apiKey.id])).code).toBe(0);
    const refused = await flowforge(["call", "crypto.hash", "--algorithm", "md5", "--text", "a"], {
      FLOWFORGE_API_KEY: secret,
    });
    expect(refused.code).toBe(4);
  });

  it("says what each method takes, from its contract", async () => {
    const help = await flowforge(["help", "crypto.hash"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Hash computes a message digest of text or bytes.");
    expect(help.stdout).toMatch(/--algorithm <md5\|sha1\|sha256\|/);
    const methods = await flowforge(["methods", "pdf"]);
    expect(methods.stdout).toMatch(/^pdf\.merge\s+Merge concatenates documents/m);
    // Every method has a short name of its own, which names it back.
    const names = (await flowforge(["methods"])).stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(/\s+/)[0]);
    expect(names.length).toBeGreaterThan(60);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining(["jobs.submit-job", "jobs.list-jobs", "llm.stream-chat", "blobs.upload"]),
    );
    for (const [name, full] of [
      ["jobs.get-job", "flowforge.jobs.v1.JobService/GetJob"],
      ["llm.stream-chat", "flowforge.llm.v1.LlmService/StreamChat"],
      ["pdf.from-images", "flowforge.pdf.v1.PdfService/ImagesToPdf"],
    ])
      expect((await flowforge(["help", name])).stdout.split("\n")[0]).toContain(`${name}  (${full}`);
  });

  it("exits non-zero with the cause and the field for each kind of bad input", async () => {
    const missing = await flowforge(["call", "crypto.hash", "--text", "abc"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /invalid_argument: algorithm: is required\n {2}algorithm: is required\n {2}request id: /,
    );
    const wrongKey = await flowforge(["call", "crypto.hash", "--algorithm", "md5", "--text", "a"], {
      FLOWFORGE_API_KEY: "ffk_wrong",
    });
    expect(wrongKey.code).toBe(4);
    expect(wrongKey.stderr).toMatch(/unauthenticated/);
    const away = await flowforge(["call", "crypto.hash", "--algorithm", "md5", "--text", "a"], {
      FLOWFORGE_URL: "http://127.0.0.1:1",
    });
    expect(away.code).toBe(3);
    expect(away.stderr).toMatch(/cannot reach the gateway/);
    const badEnum = await flowforge(["call", "crypto.hash", "--algorithm", "sha999", "--text", "a"]);
    expect(badEnum.code).toBe(2);
    // In the gateway's words (one implementation: sdk/typescript/src/input.ts).
    expect(badEnum.stderr).toMatch(/algorithm: must be one of md5, sha1, sha256, .* \(got "sha999"\)/);
    const badNumber = await flowforge(["call", "math.describe", "--values", "two"]);
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toMatch(/values: expected a number, not two/);
    const noFile = await flowforge(["call", "pdf.info", "--document", "@/nonexistent.pdf"]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/document: cannot read \/nonexistent.pdf: ENOENT/);
    const unknown = await flowforge(["call", "crypto.hsh"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown method crypto.hsh/);
    expect(missing.stdout + wrongKey.stdout + away.stdout + badEnum.stdout + noFile.stdout).toBe("");
  });
});
