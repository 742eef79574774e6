/**
 * Whether `dist/` is older than the sources it is compiled from, and rebuilding it then: `npm start`
 * runs the compiled code, so a change to the sources would otherwise not be what runs. Only node's
 * own modules here: this runs before anything of ours is loaded. In the image (no sources) it does
 * nothing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** What dist/ is built from, relative to the checkout. */
export const sourceDirs = ["lib", "services", "gateway", "scripts", "gen", "web"];
/** The file the build writes last; its time is the build's. */
export const builtStamp = "dist/.built";

/** The newest modification time (ms) of the files under `dir`, tests left out. */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0; // a checkout without one of them (the image has no sources)
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "test") continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** True when a source (or the build's configuration) changed after the last build, or there was none. */
export function stale(root: string): boolean {
  const stamp = join(root, builtStamp);
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const configs = ["package.json", "tsconfig.json", "tsconfig.build.json"].map((f) => statSync(join(root, f)).mtimeMs);
  return Math.max(...configs, ...sourceDirs.map((d) => newest(join(root, d)))) > built;
}

/** Rebuilds dist/ (`npm run build`) when the sources are there and newer; throws when the build fails. */
export function rebuildIfStale(root: string): void {
  if (!existsSync(join(root, "tsconfig.build.json")) || !stale(root)) return;
  process.stderr.write("dist/ is older than the sources: rebuilding (npm run build)\n");
  const run = spawnSync(process.execPath, ["--import", "tsx", join(root, "scripts/build.ts")], {
    cwd: root,
    stdio: "inherit",
  });
  if (run.status !== 0) throw new Error(`npm run build failed (exit ${run.status})`);
}
