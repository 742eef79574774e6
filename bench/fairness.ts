/**
 * `npm run bench:fairness`: one tenant's heavy batch against another tenant's unary calls (issue
 * 18). Tenant B calls in a loop, one call at a time, first alone and then while tenant A's batch
 * runs: math (B: a small Evaluate; A: 100 CPU-bound items) and OCR (B: Recognize of a small page;
 * A: a 40-page batch). Printed: B's p50 and p99 in both runs, one of A's items run alone, and
 * whether B's loaded p99 stays within one item's time of its unloaded p99 (the goal).
 */
import { startMesh } from "#test/support/mesh.js";
import { textPage } from "../services/ocr/test/helpers.js";
import { best, percentile, size } from "./measure.js";

const aloneSeconds = size("BENCH_FAIRNESS_SECONDS", 5, 1);
const mathItems = size("BENCH_FAIRNESS_MATH_ITEMS", 100, 6);
const ocrItems = size("BENCH_FAIRNESS_OCR_ITEMS", 40, 3);
// The capabilities measured (with the jobs service), not all eleven processes.
const mesh = await startMesh({ LOG_LEVEL: "warn", FLOWFORGE_CAPABILITIES: "math,ocr" });

async function post(key: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${mesh.url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

/** Latencies (ms) of `call` made one at a time until `until` says stop. */
async function loop(call: () => Promise<void>, until: () => boolean): Promise<number[]> {
  const ms: number[] = [];
  while (!until()) {
    const t = performance.now();
    await call();
    ms.push(performance.now() - t);
  }
  return ms;
}

interface Row {
  name: string;
  alone: number[];
  loaded: number[];
  itemMs: number;
  items: number;
}

try {
  const keyOf = async (tenantId: string) =>
    (
      (await post(mesh.adminKey, "flowforge.admin.v1.AdminService/CreateApiKey", {
        tenantId,
        tier: "TIER_ENTERPRISE",
        scopes: ["*"],
      })) as { secret: string }
    ).secret;
  const [a, b] = [await keyOf("tenant-a"), await keyOf("tenant-b")];

  /** B's calls alone, then during A's batch (submitted without waiting), and A's item alone. */
  async function measure(
    name: string,
    unary: () => Promise<void>,
    batchPath: string,
    item: (i: number) => unknown,
    items: number,
    itemAlone: () => Promise<unknown>,
  ): Promise<Row> {
    await unary(); // warm
    const aloneEnd = performance.now() + aloneSeconds * 1000;
    const alone = await loop(unary, () => performance.now() > aloneEnd);
    const itemMs = await best(3, itemAlone);
    const submitted = (await post(a, batchPath, { items: Array.from({ length: items }, (_, i) => item(i)) })) as {
      job: { id: string };
    };
    let finished = false;
    const watch = (async () => {
      for (;;) {
        const { job } = (await post(a, "flowforge.jobs.v1.JobService/GetJob", {
          jobId: submitted.job.id,
          itemsPageSize: 1,
        })) as { job: { state: string; counts: { succeeded?: number } } };
        if (job.state !== "JOB_STATE_QUEUED" && job.state !== "JOB_STATE_RUNNING") {
          if (job.state !== "JOB_STATE_SUCCEEDED" || job.counts.succeeded !== items)
            throw new Error(`${name}: A's batch ended ${job.state}`);
          finished = true;
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const loaded = await loop(unary, () => finished);
    await watch;
    console.error(`measured ${name}`);
    return { name, alone, loaded, itemMs, items };
  }

  const math = await measure(
    "math: B's Evaluate during A's CPU-bound items",
    async () => {
      const r = await post(b, "flowforge.math.v1.MathService/Evaluate", {
        expression: "2 + 3 * x",
        variables: { x: 4 },
      });
      if (r.value !== 14) throw new Error(`Evaluate answered ${JSON.stringify(r)}`);
    },
    "api/v1/math/evaluate:batch",
    (i) => ({ expression: `f(n) = n <= 1 ? n : f(n - 1) + f(n - 2); f(${26 + (i % 2)})` }),
    mathItems,
    () =>
      post(a, "flowforge.math.v1.MathService/Evaluate", {
        expression: "f(n) = n <= 1 ? n : f(n - 1) + f(n - 2); f(27)",
      }),
  );
  const small = (await textPage(["Invoice 4471", "Due on receipt"])).toString("base64");
  const page = (
    await textPage(Array.from({ length: 20 }, (_, i) => `line ${i + 1} of a page in tenant A's batch`))
  ).toString("base64");
  const ocr = await measure(
    "ocr: B's Recognize during A's pages",
    async () => {
      const r = await post(b, "flowforge.ocr.v1.OcrService/Recognize", { image: { data: small } });
      if (!String(r.text).includes("4471")) throw new Error(`Recognize read ${JSON.stringify(r.text)}`);
    },
    "api/v1/ocr/recognize:batch",
    () => ({ image: { data: page } }),
    ocrItems,
    () => post(a, "flowforge.ocr.v1.OcrService/Recognize", { image: { data: page } }),
  );

  const ms = (n: number) => `${Math.round(n)}`;
  console.log(
    "\n| tenant B's unary calls | alone p50 / p99, ms | during A's batch p50 / p99, ms | A's item alone, ms | p99 rise / item | goal: rise <= one item |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | --- |");
  for (const r of [math, ocr]) {
    const rise = percentile(r.loaded, 99) - percentile(r.alone, 99);
    console.log(
      `| ${r.name} (${r.items} items; ${r.alone.length} and ${r.loaded.length} calls) | ${ms(percentile(r.alone, 50))} / ${ms(percentile(r.alone, 99))} | ${ms(percentile(r.loaded, 50))} / ${ms(percentile(r.loaded, 99))} | ${ms(r.itemMs)} | ${(rise / r.itemMs).toFixed(2)} | ${rise <= r.itemMs ? "met" : "not met"} |`,
    );
  }
  console.log("");
} finally {
  await mesh.stop();
}
