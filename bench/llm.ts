/**
 * `npm run bench:llm`: issue 20's figures, side by side in one run, against the local
 * OpenAI-compatible test server (test/support/llm-providers.ts), which streams as fast as it can
 * or at a model's pace. Both paths are read by the same minimal SSE client (fetch), so the
 * client's cost is the same on both sides.
 * - Time to first token: direct to the provider against through the gateway's
 *   `/v1/chat/completions` (gateway → LLM service → provider): p50 and p99 of each, and the p50
 *   the mesh adds (target ≤ 5 ms).
 * - Tokens per second: one unpaced stream (the mesh's ceiling), and streams at a model's pace
 *   (100 tokens/s each), through the gateway against direct (target ≥ 0.9).
 * - 1,000 concurrent paced streams through the gateway: errors (target none), the gateway's and
 *   the LLM process's peak RSS.
 */
import { readFileSync } from "node:fs";
import { startOpenAiProvider } from "#test/support/llm-providers.js";
import { startMesh } from "#test/support/mesh.js";
import { percentile, size } from "./measure.js";

const firstTokenCalls = size("BENCH_LLM_TTFT", 300, 10);
const unpacedTokens = size("BENCH_LLM_TOKENS", 20_000, 200);
const pacedStreams = size("BENCH_LLM_PACED", 20, 4);
const concurrent = size("BENCH_LLM_CONCURRENT", 1000, 50);
/** A model's pace: 100 tokens, one every 10 ms. */
const paced = "paced-100-10";

const provider = await startOpenAiProvider();
const mesh = await startMesh({
  LOG_LEVEL: "warn",
  // The capability measured (with the jobs service), not all eleven processes.
  FLOWFORGE_CAPABILITIES: "llm",
  OPENAI_BASE_URL: provider.url,
  OPENAI_MODEL: "echo",
  LLM_CACHE_TTL_SECONDS: "0",
  // Each alias names the provider model of the same name: both paths ask for the same stream.
  LLM_MODELS: JSON.stringify({
    echo: { provider: "openai", model: "echo" },
    [`count-${unpacedTokens}`]: { provider: "openai", model: `count-${unpacedTokens}` },
    [paced]: { provider: "openai", model: paced },
  }),
});
const rssMib = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) / 1024;

/** One streamed chat read as SSE: ms to the first content token, tokens seen, ms to the end. */
async function stream(base: string, model: string, key?: string) {
  const start = performance.now();
  const res = await fetch(`${base}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key && { authorization: `Bearer ${key}` }) },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: "go" }] }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  let first = Number.NaN;
  let tokens = 0;
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    for (let end = rest.indexOf("\n\n"); end >= 0; end = rest.indexOf("\n\n")) {
      const event = rest.slice(0, end);
      rest = rest.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const data = JSON.parse(event.slice(6));
      if (data.error) throw new Error(data.error.message);
      if (data.choices?.[0]?.delta?.content) {
        if (tokens === 0) first = performance.now() - start;
        tokens++;
      }
    }
  }
  return { first, tokens, total: performance.now() - start };
}

const paths = {
  direct: (model: string) => stream(provider.url, model),
  gateway: (model: string) => stream(`${mesh.url}/v1`, model, mesh.adminKey),
};
const rows: string[][] = [["figure", "direct", "gateway", "gateway / direct"]];

async function firstTokens(path: keyof typeof paths) {
  const times: number[] = [];
  for (let i = 0; i < firstTokenCalls; i++) times.push((await paths[path]("echo")).first);
  return times;
}
/** Tokens per second of `streams` streams of `model` at once. */
async function tokensPerSecond(path: keyof typeof paths, model: string, streams: number) {
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: streams }, () => paths[path](model)));
  const tokens = results.reduce((n, r) => n + r.tokens, 0);
  return (tokens / (performance.now() - start)) * 1000;
}

for (let i = 0; i < 20; i++) {
  await paths.direct("echo");
  await paths.gateway("echo");
}
// Turns taken in rounds, so drift of a shared machine falls on both paths alike.
const ttft = { direct: [] as number[], gateway: [] as number[] };
for (let round = 0; round < 3; round++)
  for (const path of ["direct", "gateway"] as const) ttft[path].push(...(await firstTokens(path)));
const p50 = (path: keyof typeof ttft) => percentile(ttft[path], 50);
const p99 = (path: keyof typeof ttft) => percentile(ttft[path], 99);
rows.push([
  "time to first token p50 (ms)",
  p50("direct").toFixed(2),
  p50("gateway").toFixed(2),
  `+${(p50("gateway") - p50("direct")).toFixed(2)} ms`,
]);
rows.push(["time to first token p99 (ms)", p99("direct").toFixed(2), p99("gateway").toFixed(2), ""]);

const unpaced = { direct: [] as number[], gateway: [] as number[] };
const pacedRates = { direct: [] as number[], gateway: [] as number[] };
for (let round = 0; round < 3; round++)
  for (const path of ["direct", "gateway"] as const) {
    unpaced[path].push(await tokensPerSecond(path, `count-${unpacedTokens}`, 1));
    pacedRates[path].push(await tokensPerSecond(path, paced, pacedStreams));
  }
const median = (v: number[]) => percentile(v, 50);
for (const [label, figures] of [
  ["tokens/s, one unpaced stream", unpaced],
  [`tokens/s, ${pacedStreams} streams at 100 tokens/s`, pacedRates],
] as const)
  rows.push([
    label,
    median(figures.direct).toFixed(0),
    median(figures.gateway).toFixed(0),
    (median(figures.gateway) / median(figures.direct)).toFixed(2),
  ]);

// Many streams held at once: the processes' RSS sampled while they run.
// The launcher reports every process's pid in /healthz.
const { processes } = (await (await fetch(`${mesh.url}/healthz`)).json()) as {
  processes: Record<string, { pid: number }>;
};
const gatewayPid = processes.gateway.pid;
const llmPid = processes.llm.pid;
const idle = { gateway: rssMib(gatewayPid), llm: rssMib(llmPid) };
const peak = { ...idle };
const sampler = setInterval(() => {
  peak.gateway = Math.max(peak.gateway, rssMib(gatewayPid));
  peak.llm = Math.max(peak.llm, rssMib(llmPid));
}, 50);
/** `concurrent` paced streams at once over `path`: the failures and how long they took. */
async function hold(path: keyof typeof paths) {
  const start = performance.now();
  const outcomes = await Promise.allSettled(Array.from({ length: concurrent }, () => paths[path](paced)));
  const failures = outcomes.filter((o) => o.status === "rejected" || o.value.tokens !== 100);
  return { failures, seconds: (performance.now() - start) / 1000 };
}
const heldDirect = await hold("direct");
const heldGateway = await hold("gateway");
clearInterval(sampler);
const failed = [...heldDirect.failures, ...heldGateway.failures];
rows.push([
  `${concurrent} concurrent streams of 100 tokens at 100/s`,
  `${heldDirect.failures.length} errors, ${heldDirect.seconds.toFixed(2)} s`,
  `${heldGateway.failures.length} errors, ${heldGateway.seconds.toFixed(2)} s`,
  (heldDirect.seconds / heldGateway.seconds).toFixed(2),
]);
rows.push([
  "RSS MiB (idle → peak)",
  "",
  `gateway ${idle.gateway.toFixed(0)} → ${peak.gateway.toFixed(0)}, llm ${idle.llm.toFixed(0)} → ${peak.llm.toFixed(0)}`,
  "",
]);
if (failed.length > 0) {
  const first = failed[0];
  console.error("first failure:", first.status === "rejected" ? first.reason : `${first.value.tokens} tokens`);
}

const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
await mesh.stop();
await provider.close();
if (failed.length > 0) process.exitCode = 1;
