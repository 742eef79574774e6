/**
 * Runs every block marked `<!-- run -->` in the README and the pages under docs/ against a mesh
 * started as `npm start` starts it, and compares its output with the `text` block that follows.
 * Only the port differs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { root, startMesh, type Mesh } from "../support/mesh.js";

const run = promisify(execFile);
const readme = readFileSync(join(root, "README.md"), "utf8");
const pages = ["README.md", ...readdirSync(join(root, "docs")).map((f) => `docs/${f}`)].filter((p) =>
  p.endsWith(".md"),
);
const examples = pages.flatMap((page) =>
  [
    ...readFileSync(join(root, page), "utf8").matchAll(
      /<!-- run -->\n```sh\n([\s\S]*?)```\n+(?:<!-- [^>]* -->\n)?```text\n([\s\S]*?)```/g,
    ),
  ].map((m) => ({ page, script: m[1], expected: m[2].trim() })),
);

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
});
afterAll(() => mesh?.stop());

describe("README and docs/ examples", () => {
  it("has runnable examples and the two commands at the top", () => {
    expect(examples.filter((e) => e.page === "README.md").length).toBeGreaterThanOrEqual(12);
    expect(new Set(examples.map((e) => e.page))).toContain("docs/protocols.md");
    const top = readme.slice(0, readme.indexOf("## "));
    expect(top).toContain("npm install\nnpm start");
    expect(top).toContain("npm test");
  });

  it("shows the TypeScript client example exactly as the file that runs", () => {
    const shown = /```ts\n([\s\S]*?)```/.exec(readFileSync(join(root, "docs/protocols.md"), "utf8"))![1];
    expect(shown).toBe(readFileSync(join(root, "sdk/typescript/examples/watch-job.ts"), "utf8"));
  });

  it.each(examples.map((e, i) => [i + 1, e.page, e.script.split("\n")[0], e] as const))(
    "example %i (%s): %s",
    async (_i, _page, _first, { script, expected }) => {
      const { stdout } = await run(
        "bash",
        ["-euo", "pipefail", "-c", script.replaceAll("127.0.0.1:8080", `127.0.0.1:${mesh.port}`)],
        {
          cwd: root,
          env: { ...process.env, FLOWFORGE_ADMIN_KEY: mesh.adminKey },
          timeout: 60_000,
        },
      );
      expect(stdout.trim()).toBe(expected);
    },
  );
});
