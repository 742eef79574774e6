/**
 * The Go SDK as a Go program uses it: sdk/go built with Debian's Go toolchain against Debian's
 * gRPC and protobuf packages (GOPATH mode: nothing downloaded), its example program run against a
 * real mesh: an answer, an error naming its field, a batch with a failing item, a refused key, a
 * gateway that does not answer.
 * Where Go is not installed the test is skipped, unless FLOWFORGE_REQUIRE_GO=1 (CI).
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, root, startMesh, type Mesh } from "../support/mesh.js";

const run = promisify(execFile);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const goInstalled = spawnSync("go", ["version"]).status === 0;

describe.skipIf(!goInstalled && process.env.FLOWFORGE_REQUIRE_GO !== "1")("the Go SDK", () => {
  let mesh: Mesh;
  let gopath: string;

  beforeAll(async () => {
    mesh = await startMesh();
    gopath = mkdtempSync(join(tmpdir(), "flowforge-sdk-go-"));
    const module = join(gopath, "src/github.com/flowforge/flowforge/sdk/go");
    mkdirSync(module, { recursive: true });
    cpSync(join(root, "sdk/go"), module, { recursive: true });
    await run("go", ["build", "-o", join(gopath, "hash"), "./examples/hash"], {
      cwd: module,
      timeout: 240_000,
      env: {
        PATH: process.env.PATH,
        HOME: gopath,
        GO111MODULE: "off",
        GOPATH: `${gopath}:/usr/share/gocode`,
        GOCACHE: join(gopath, "cache"),
        GOFLAGS: "",
      },
    });
  }, 300_000);

  afterAll(async () => {
    await mesh?.stop();
    if (gopath) rmSync(gopath, { recursive: true, force: true });
  });

  it("builds against Debian's gRPC and calls the mesh: answers, bad fields, a batch, a refused key, no gateway", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`; // nothing listens there
    const { stdout } = await run(
      join(gopath, "hash"),
      [`127.0.0.1:${new URL(mesh.url).port}`, mesh.adminKey, nowhere],
      {
        timeout: 120_000,
      },
    );
    const out = JSON.parse(stdout);
    expect(out.version).toBe(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version);
    expect(out.digest).toBe(sha256("abc"));
    expect(out.missing).toEqual({ code: "InvalidArgument", fields: ["algorithm"], requestId: true });
    expect(out.batch).toEqual([sha256("abc"), ["algorithm"]]);
    expect(out.progress).toBe(2);
    expect(out.wrongKey).toBe("Unauthenticated");
    // Nothing listens there: Unavailable, the cause and the address in the message.
    expect(out.unreachable.code).toBe("Unavailable");
    expect(out.unreachable.message).toContain(nowhere);
    expect(out.unreachable.message).toMatch(/connection refused/);
  });
});
