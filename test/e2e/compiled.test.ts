/**
 * `npm start` runs the JavaScript compiled into dist/ (`npm run build`, run by `npm install`):
 * every process of the mesh, and the worker threads of a sandboxed capability, without tsx; a
 * change to the sources makes dist/ stale, and a stale dist/ is rebuilt before anything starts.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CryptoService, HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { MathService } from "#gen/flowforge/math/v1/math_pb.js";
import { builtStamp, stale } from "../../scripts/fresh.js";
import { connectClient } from "../support/clients.js";
import { type Mesh, startMesh } from "../support/mesh.js";

describe("the compiled mesh (npm start)", () => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh({ FLOWFORGE_CAPABILITIES: "crypto,math" }, { compiled: true });
  });
  afterAll(() => mesh?.stop());

  it("answers from every process, and none of them runs tsx", async () => {
    const hash = await connectClient(CryptoService, mesh.url, mesh.adminKey).hash({
      algorithm: HashAlgorithm.SHA256,
      input: { case: "text", value: "abc" },
    });
    expect(hash.digest).toBe(createHash("sha256").update("abc").digest("hex"));
    // Evaluate runs on a sandbox thread, loaded from dist/ as well.
    const sum = await connectClient(MathService, mesh.url, mesh.adminKey).evaluate({ expression: "2 + 3" });
    expect([sum.value?.kind, sum.text]).toEqual([{ case: "numberValue", value: 5 }, "5"]);
    for (const name of ["gateway", "crypto", "math", "jobs"]) {
      const cmdline = (await readFile(`/proc/${mesh.pidOf(name)}/cmdline`, "utf8")).split("\0");
      expect(cmdline.join(" "), name).not.toContain("tsx");
      expect(
        cmdline.some((arg) => /\/dist\/(gateway|services)\/main\.js$/.test(arg)),
        name,
      ).toBe(true);
    }
  });
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
