/**
 * MathService and TransformService through the gateway as `npm start` runs them, in the shapes
 * the issue's acceptance names (Connect JSON), and as batch jobs on their own workers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { EvaluateRequestSchema, EvaluateResponseSchema } from "#gen/flowforge/math/v1/math_pb.js";
import { ConvertRequestSchema, ConvertResponseSchema, DataFormat } from "#gen/flowforge/transform/v1/transform_pb.js";
import { connectClient } from "#test/support/clients.js";
import { pack, watchAll } from "#test/support/jobs.js";
import { startMesh, type Mesh } from "#test/support/mesh.js";
import { waitFor } from "#test/support/until.js";

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
}, 120_000);
afterAll(() => mesh?.stop());

const call = async (path: string, body: object) => {
  const res = await fetch(`${mesh.url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};

describe("TransformService through the gateway", () => {
  it("Convert and Query answer as the acceptance shapes say", async () => {
    const converted = await call("flowforge.transform.v1.TransformService/Convert", {
      input: "a,b\n1,x\n",
      from: "DATA_FORMAT_CSV",
      to: "DATA_FORMAT_JSON",
    });
    expect(converted.body.data).toEqual([{ a: 1, b: "x" }]);
    expect(JSON.parse(converted.body.output)).toEqual([{ a: 1, b: "x" }]);
    const itemsOnly = await call("flowforge.transform.v1.TransformService/Convert", {
      input: "a,b\n1,x\n",
      from: "DATA_FORMAT_CSV",
      to: "DATA_FORMAT_JSON",
      jsonForm: "JSON_FORM_DATA",
    });
    expect(itemsOnly.body).toEqual({ data: [{ a: 1, b: "x" }] });
    const data = { items: [{ price: 2 }, { price: 3 }] };
    const jsonata = await call("flowforge.transform.v1.TransformService/Query", {
      language: "QUERY_LANGUAGE_JSONATA",
      expression: "$sum(items.price)",
      data,
    });
    expect(jsonata.body).toEqual({ result: 5 });
    const jmespath = await call("flowforge.transform.v1.TransformService/Query", {
      language: "QUERY_LANGUAGE_JMESPATH",
      expression: "sum(items[].price)",
      data,
    });
    expect(jmespath.body).toEqual({ result: 5 });
  });
});

describe("MathService through the gateway", () => {
  it("Evaluate and Describe answer as the acceptance shapes say", async () => {
    const evaluated = await call("flowforge.math.v1.MathService/Evaluate", {
      expression: "sqrt(16) + x",
      variables: { x: 1 },
    });
    expect(evaluated.body).toMatchObject({ value: 5, text: "5" });
    const described = await call("flowforge.math.v1.MathService/Describe", { values: [2, 4, 4, 4, 5, 5, 7, 9] });
    expect(described.body).toMatchObject({ mean: 5, stdDevPopulation: 2 });
    expect(described.body.stdDevSample).toBeCloseTo(2.13809, 5);
    const bad = await call("flowforge.math.v1.MathService/Evaluate", { expression: "1 +" });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].debug.fieldViolations[0].field).toBe("expression");
  });

  it("a batch of Evaluate items runs as a job on the math process's own workers", async () => {
    const items = Array.from({ length: 200 }, (_, i) => ({
      "@type": "type.googleapis.com/flowforge.math.v1.EvaluateRequest",
      expression: "x^2",
      variables: { x: i },
    }));
    const submitted = await call("flowforge.jobs.v1.JobService/SubmitJob", {
      method: "flowforge.math.v1.MathService/Evaluate",
      items,
    });
    const jobId = submitted.body.job.id;
    const job = await waitFor(
      async () => {
        const now = (await call("flowforge.jobs.v1.JobService/GetJob", { jobId, itemsPageSize: 1 })).body.job;
        return now.state === "JOB_STATE_QUEUED" || now.state === "JOB_STATE_RUNNING" ? undefined : now;
      },
      { what: "the job to end", ms: 30_000 },
    );
    expect(job).toMatchObject({ state: "JOB_STATE_SUCCEEDED", counts: { succeeded: 200 } });
    const page = (await call("flowforge.jobs.v1.JobService/GetJob", { jobId, itemsPageSize: 200 })).body.job;
    expect(page.items.map((i: { result: { value: number } }) => i.result.value)).toEqual(items.map((_, i) => i * i));
  }, 60_000);
});

describe("Hostile input through the gateway", () => {
  it("while a runaway expression, a ReDoS schema and a billion-laughs document are being bounded, Hash-sized calls are answered", async () => {
    let hostileDone = 0;
    const hostile = (path: string, body: object) =>
      call(path, body).finally(() => {
        hostileDone++;
      });
    const runaway = hostile("flowforge.math.v1.MathService/Evaluate", {
      expression: "f(n) = n <= 0 ? 0 : f(n - 1) + f(n - 1); f(60)",
    });
    const redos = hostile("flowforge.transform.v1.TransformService/Validate", {
      schema: { type: "string", pattern: "^(a+)+$" },
      data: `${"a".repeat(40)}!`,
    });
    const laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++)
      laughs.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    const yaml = hostile("flowforge.transform.v1.TransformService/Convert", {
      input: laughs.join("\n"),
      from: "DATA_FORMAT_YAML",
      to: "DATA_FORMAT_JSON",
    });
    // A Hash and a small Evaluate are answered while the runaway and the ReDoS are still running.
    const hash = await call("flowforge.crypto.v1.CryptoService/Hash", {
      algorithm: "HASH_ALGORITHM_SHA256",
      text: "abc",
    });
    expect(hash.body.digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect((await call("flowforge.math.v1.MathService/Evaluate", { expression: "2 + 2" })).body.value).toBe(4);
    expect(hostileDone).toBeLessThan(3);
    for (const [res, field] of [
      [await runaway, "expression"],
      [await redos, "schema"],
      [await yaml, "input"],
    ] as const) {
      expect(res.status).toBe(400);
      expect(res.body.details[0].debug.fieldViolations[0].field).toBe(field);
    }
  }, 30_000);
});

describe("A batch that runs the math process's threads out of memory", () => {
  it("zeros(20000, 20000) in every item: each item fails alone naming its expression, unary calls are answered throughout, the process lives", async () => {
    const pid = mesh.pidOf("math");
    const total = 16;
    const items = Array.from({ length: total }, () => ({
      "@type": "type.googleapis.com/flowforge.math.v1.EvaluateRequest",
      expression: "zeros(20000, 20000)",
    }));
    const submitted = await call("flowforge.jobs.v1.JobService/SubmitJob", {
      method: "flowforge.math.v1.MathService/Evaluate",
      items,
    });
    const jobId = submitted.body.job.id;
    let job: { state: string; counts: { failed: number }; items?: object[] } | undefined;
    let answered = 0;
    while (job?.state !== "JOB_STATE_FAILED" && job?.state !== "JOB_STATE_SUCCEEDED") {
      // Another caller's Evaluate gets its answer while the batch runs.
      const unary = await call("flowforge.math.v1.MathService/Evaluate", { expression: `${answered} + 1` });
      expect({ status: unary.status, body: unary.body }).toMatchObject({ status: 200, body: { value: answered + 1 } });
      answered++;
      job = (await call("flowforge.jobs.v1.JobService/GetJob", { jobId, itemsPageSize: total })).body.job;
    }
    expect(job.counts.failed).toBe(total);
    for (const item of job.items as { error: { code: number; message: string } }[]) {
      expect(item.error.code).toBe(3); // invalid_argument
      expect(item.error.message).toMatch(/^expression: (needs more memory than it may use|ran longer than)/);
    }
    expect(answered).toBeGreaterThan(1);
    expect(mesh.pidOf("math")).toBe(pid);
  }, 180_000);
});

describe("Jobs at the sizes the issue names, watched live", () => {
  it("a 100,000-row CSV converted as one job reports its progress over WatchJob", async () => {
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const rows = ["id,name,score,note"];
    for (let i = 0; i < 100_000; i++) rows.push(`${i},name ${i},${i / 4},"quoted, with a comma"`);
    const input = `${rows.join("\n")}\n`;
    const { job } = await jobs.submitJob({
      method: "flowforge.transform.v1.TransformService/Convert",
      request: pack(ConvertRequestSchema, { input, from: DataFormat.CSV, to: DataFormat.NDJSON }),
    });
    const events = await watchAll(jobs, job!.id);
    const progress = events.flatMap((e) => (e.event.case === "progress" ? [e.event.value.fraction] : []));
    // Several reports, rising, all before the item finished.
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(progress.every((f) => f > 0 && f < 1)).toBe(true);
    const finished = events.findIndex((e) => e.event.case === "itemFinished");
    expect(events.findLastIndex((e) => e.event.case === "progress")).toBeLessThan(finished);
    const last = events[events.length - 1].event;
    expect(last).toMatchObject({ case: "stateChanged", value: { state: JobState.SUCCEEDED } });
    const done = events[finished].event;
    const result =
      done.case === "itemFinished" ? anyUnpack(done.value.item!.result!, ConvertResponseSchema) : undefined;
    const lines = result!.output.trim().split("\n");
    expect(lines).toHaveLength(100_000);
    expect(JSON.parse(lines[99_999])).toEqual({
      id: 99_999,
      name: "name 99999",
      score: 99_999 / 4,
      note: "quoted, with a comma",
    });
  }, 120_000);

  it("a batch of 10,000 Evaluate items streams every item's finish, counts rising to 10,000", async () => {
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey, true);
    const items = Array.from({ length: 10_000 }, (_, i) =>
      pack(EvaluateRequestSchema, { expression: "x * 2 + 1", variables: { x: i } }),
    );
    const { job } = await jobs.submitJob({ method: "flowforge.math.v1.MathService/Evaluate", items });
    const events = await watchAll(jobs, job!.id);
    const finished = events.flatMap((e) => (e.event.case === "itemFinished" ? [e.event.value] : []));
    expect(finished).toHaveLength(10_000);
    const succeeded = finished.map((f) => Number(f.counts!.succeeded));
    expect(succeeded[succeeded.length - 1]).toBe(10_000);
    expect([...succeeded].sort((a, b) => a - b)).toEqual(succeeded);
    // Sequences have no gaps, and every item's answer is its own.
    expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
    for (const f of finished) {
      const value = anyUnpack(f.item!.result!, EvaluateResponseSchema)!.value;
      expect(value?.kind).toEqual({ case: "numberValue", value: f.item!.index * 2 + 1 });
    }
    expect(events[events.length - 1].event).toMatchObject({
      case: "stateChanged",
      value: { state: JobState.SUCCEEDED },
    });
  }, 180_000);
});
