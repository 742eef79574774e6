/**
 * The shape of the code's imports (static, dynamic and type imports alike, read from the source): no import circles; a capability's folder imports no other capability's
 * (what two share lives in lib/); the browser client imports generated code and packages only.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { root } from "./support/mesh.js";

const aliases = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).imports as Record<string, string>;

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules" || name === "test" || name.startsWith(".")) return [];
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** `import … from "x"`, `export … from "x"`, `import("x")` and `import "x"`. */
const importPattern =
  /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm;

/** A module specifier as a repository path, or undefined for a package. */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  let target: string;
  if (specifier.startsWith(".")) target = join(dirname(from), specifier);
  else if (specifier.startsWith("#")) {
    const [pattern, to] = Object.entries(aliases).find(([p]) => specifier.startsWith(p.replace("*", ""))) ?? [];
    if (!pattern || !to) return undefined;
    target = join(to.replace("*", ""), specifier.slice(pattern.length - 1));
  } else return undefined;
  const base = target.replace(/\.js$/, "");
  for (const candidate of [`${base}.ts`, `${base}.tsx`, join(base, "index.ts")])
    if (existsSync(join(root, candidate))) return relative(root, resolve(root, candidate));
  return undefined;
}

const files = ["lib", "services", "gateway", "scripts", "web/src", "gen/flowforge"].flatMap(sources);
const graph = new Map(
  files.map((file) => {
    const specifiers = [...readFileSync(join(root, file), "utf8").matchAll(importPattern)].map(
      (m) => m[1] ?? m[2] ?? m[3],
    );
    const targets = specifiers.flatMap((specifier) => resolveSpecifier(file, specifier) ?? []);
    return [file, [...new Set(targets)]] as const;
  }),
);

/** Strongly connected components of more than one module (Tarjan): the import circles. */
function circles(): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("imports", () => {
  it("were all read (the walk sees the code it checks)", () => {
    expect(graph.size).toBeGreaterThan(150);
    expect(graph.get("services/catalog.ts")).toContain("gen/flowforge/capabilities.ts");
    expect(graph.get("gen/flowforge/capabilities.ts")).toContain("services/crypto/capability.ts");
  });

  it("form no circles", () => {
    expect(circles()).toEqual([]);
  });

  it("a capability's folder imports no other capability's folder", () => {
    const crossing = [...graph].flatMap(([file, targets]) => {
      const own = /^services\/([^/]+)\//.exec(file)?.[1];
      if (!own) return [];
      return targets
        .filter((t) => /^services\/[^/]+\//.test(t) && !t.startsWith(`services/${own}/`))
        .map((t) => `${file} -> ${t}`);
    });
    expect(crossing).toEqual([]);
  });

  it("the browser client imports generated code and packages only", () => {
    const outside = [...graph]
      .filter(([file]) => file.startsWith("web/src/"))
      .flatMap(([file, targets]) =>
        targets.filter((t) => !t.startsWith("gen/") && !t.startsWith("web/src/")).map((t) => `${file} -> ${t}`),
      );
    expect(outside).toEqual([]);
    // And what it imports from gen/ is generated from the protos alone, with no path back to server code.
    const reached = new Set<string>();
    const walk = (f: string) => {
      if (reached.has(f)) return;
      reached.add(f);
      for (const t of graph.get(f) ?? []) walk(t);
    };
    for (const file of graph.keys()) if (file.startsWith("web/src/")) walk(file);
    expect([...reached].filter((f) => !f.startsWith("gen/") && !f.startsWith("web/src/"))).toEqual([]);
  });
});
