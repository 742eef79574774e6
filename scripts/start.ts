/**
 * `npm start` runs this compiled (`dist/scripts/start.js`): it rebuilds dist/ first when the
 * sources changed since the last build, then starts the launcher (scripts/launch.ts). Tests and
 * benches run it from the sources through tsx, where there is nothing to rebuild.
 */
import { fileURLToPath } from "node:url";
import { compiled } from "#runtime/code.js";
import { rebuildIfStale } from "./fresh.js";

if (compiled) rebuildIfStale(fileURLToPath(new URL("../..", import.meta.url)));
await import("./launch.js");
