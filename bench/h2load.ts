/** Running h2load (Debian's nghttp2-client) and reading its figures. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** One h2load run's figures. */
export interface LoadResult {
  reqPerSec: number;
  meanLatencyUs: number;
  succeeded: number;
  failed: number;
}

function toMicros(value: string, unit: string): number {
  const v = Number(value);
  return unit === "s" ? v * 1e6 : unit === "ms" ? v * 1e3 : v;
}

/** Parses h2load's summary. */
export function parseH2load(out: string): LoadResult {
  const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const reqs = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  const lat = /time for request:\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)/.exec(out);
  if (!rps || !reqs || !lat) throw new Error(`cannot read h2load output:\n${out}`);
  return {
    reqPerSec: Number(rps[1]),
    meanLatencyUs: toMicros(lat[1], lat[2]),
    succeeded: Number(reqs[1]),
    failed: Number(reqs[2]),
  };
}

/** Options for h2load. */
export interface LoadOptions {
  url: string;
  bodyFile: string;
  headers: Record<string, string>;
  clients: number;
  streams: number;
  seconds: number;
  warmupSeconds?: number;
}

/** Runs h2load with `length` (a duration or a request count) and the common options. */
async function runH2load(o: Omit<LoadOptions, "seconds" | "warmupSeconds">, length: string[]): Promise<LoadResult> {
  const args = [...length, "-c", String(o.clients), "-m", String(o.streams), "-d", o.bodyFile];
  for (const [k, v] of Object.entries(o.headers)) args.push("-H", `${k}: ${v}`);
  args.push(o.url);
  const { stdout } = await run("h2load", args, { maxBuffer: 16 * 1024 * 1024 });
  const result = parseH2load(stdout);
  // A target that is down reads as 0 requests and 0 failures: never a figure.
  if (result.succeeded === 0) throw new Error(`h2load: no request to ${o.url} succeeded\n${stdout}`);
  return result;
}

/** Runs h2load for a duration and returns its figures. */
export function h2load(o: LoadOptions): Promise<LoadResult> {
  return runH2load(o, ["-D", String(o.seconds), "--warm-up-time", String(o.warmupSeconds ?? 1)]);
}

/** Runs h2load for a number of requests (rather than a duration). */
export function h2loadCount(
  o: Omit<LoadOptions, "seconds" | "warmupSeconds"> & { requests: number },
): Promise<LoadResult> {
  return runH2load(o, ["-n", String(o.requests)]);
}
