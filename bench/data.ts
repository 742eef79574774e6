/**
 * `npm run bench:data`: the data capabilities side by side in one run (issue 10's speed figures).
 * - Evaluate of a small expression through the gateway (h2load, Connect JSON) against crypto Hash
 *   through the same gateway: the ratio, target >= 0.8.
 * - Convert of a 10 MB, 100,000-row CSV to JSON text through the gateway against csv-parse called
 *   in-process on the same text: MB/s and the ratio, target >= 0.5; and the default answer, which
 *   carries the document twice (`output` and `data`).
 * - Describe of 1,000,000 values through the gateway against simple-statistics in-process.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { mean, standardDeviation } from "simple-statistics";
import { startMesh } from "#test/support/mesh.js";
import { h2load } from "./h2load.js";
import { best, size } from "./measure.js";

const seconds = size("BENCH_SECONDS", 5, 1);
const csvRows = size("BENCH_CSV_ROWS", 100_000, 2_000);
const describeValues = size("BENCH_DESCRIBE_VALUES", 1_000_000, 20_000);
const runs = size("BENCH_RUNS", 3, 1);
// The capabilities measured (with the jobs service), not all eleven processes.
const mesh = await startMesh({ LOG_LEVEL: "warn", FLOWFORGE_CAPABILITIES: "crypto,math,transform" });
const auth = { authorization: `Bearer ${mesh.adminKey}` };
const dir = tmpdir();

async function post(path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${mesh.url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

try {
  // Evaluate against Hash, same gateway, same run.
  const evalFile = join(dir, `ff-eval-${process.pid}.json`);
  const hashFile = join(dir, `ff-hash-${process.pid}.json`);
  await writeFile(evalFile, JSON.stringify({ expression: "sqrt(16) + x * 2", variables: { x: 3 } }));
  await writeFile(hashFile, JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text: "x".repeat(58) }));
  const load = (path: string, bodyFile: string) =>
    h2load({
      url: `${mesh.url}/${path}`,
      bodyFile,
      headers: { "content-type": "application/json", ...auth },
      clients: 4,
      streams: 25,
      seconds,
    });
  await post("flowforge.math.v1.MathService/Evaluate", { expression: "sqrt(16) + x * 2", variables: { x: 3 } });
  const hash = await load("flowforge.crypto.v1.CryptoService/Hash", hashFile);
  const evaluate = await load("flowforge.math.v1.MathService/Evaluate", evalFile);

  // Convert a 10 MB, 100,000-row CSV.
  const rows = ["id,name,amount,active,note"];
  const note = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod";
  for (let i = 0; rows.length <= csvRows; i++)
    rows.push(`${i},"name ${i}, the ${i % 7}th",${(i * 1.25).toFixed(2)},${i % 2 === 0},${note}`);
  const csv = `${rows.join("\n")}\n`;
  const mb = Buffer.byteLength(csv) / 1e6;
  // The client's own work is not timed: the body is serialized once and the answer read as bytes
  // (in-process starts from the same text and ends with JSON text too).
  const convert = async (jsonForm?: string) => {
    const body = JSON.stringify({ input: csv, from: "DATA_FORMAT_CSV", to: "DATA_FORMAT_JSON", jsonForm });
    const send = async () => {
      const res = await fetch(`${mesh.url}/flowforge.transform.v1.TransformService/Convert`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body,
      });
      if (res.status !== 200) throw new Error(`Convert: HTTP ${res.status} ${await res.text()}`);
      return Buffer.from(await res.arrayBuffer());
    };
    const answer = JSON.parse((await send()).toString()) as { output: string };
    if (JSON.parse(answer.output).length !== csvRows) throw new Error(`Convert: not ${csvRows} records`);
    return best(runs, send);
  };
  // Only the text: the work in-process does. Both forms (the default) carry the document twice.
  const viaGateway = await convert("JSON_FORM_TEXT");
  const viaGatewayBoth = await convert();
  const inProcess = await best(runs, () =>
    JSON.stringify(parseCsv(csv, { columns: true, cast: true, bom: true, skip_empty_lines: true })),
  );

  // Describe a million values.
  const values = Array.from({ length: describeValues }, (_, i) => Math.sin(i) * 1000);
  const described = (await post("flowforge.math.v1.MathService/Describe", { values })) as { count?: string | number };
  if (Number(described.count) !== describeValues) throw new Error(`Describe: count ${described.count}`);
  const describeGateway = await best(runs, () => post("flowforge.math.v1.MathService/Describe", { values }));
  const describeLocal = await best(runs, () => [
    mean(values),
    standardDeviation(values),
    [...values].sort((a, b) => a - b),
  ]);

  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  console.log(
    [
      "",
      line(["measure", "through the gateway", "reference", "ratio", "target"]),
      line(["---", "---:", "---:", "---:", "---:"]),
      line([
        "Evaluate vs Hash, req/s (4 × 25)",
        Math.round(evaluate.reqPerSec),
        Math.round(hash.reqPerSec),
        (evaluate.reqPerSec / hash.reqPerSec).toFixed(2),
        ">= 0.8",
      ]),
      line([
        `Convert ${mb.toFixed(1)} MB CSV -> JSON text (JSON_FORM_TEXT), MB/s`,
        (mb / (viaGateway / 1000)).toFixed(1),
        (mb / (inProcess / 1000)).toFixed(1),
        (inProcess / viaGateway).toFixed(2),
        ">= 0.5",
      ]),
      line([
        "the same, both forms (`output` and `data`, the default)",
        (mb / (viaGatewayBoth / 1000)).toFixed(1),
        (mb / (inProcess / 1000)).toFixed(1),
        (inProcess / viaGatewayBoth).toFixed(2),
        "",
      ]),
      line([
        `Describe ${describeValues.toLocaleString("en")} values, ms`,
        Math.round(describeGateway),
        Math.round(describeLocal),
        (describeLocal / describeGateway).toFixed(2),
        "",
      ]),
      "",
    ].join("\n"),
  );
} finally {
  await mesh.stop();
}
