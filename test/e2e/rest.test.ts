/**
 * The REST projection through the gateway as `npm start` runs it: the acceptance shapes,
 * friendly JSON, batches, long-poll and Server-Sent Events, the error envelope and the refusals
 * a workflow builder trips on.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Validator } from "@seriousme/openapi-schema-validator";
import { OpenAPIClientAxios, type Document } from "openapi-client-axios";
import { startMesh, type Mesh } from "#test/support/mesh.js";

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
}, 120_000);
afterAll(() => mesh?.stop());

interface Sent {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  body: any;
}

async function rest(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Sent> {
  const res = await fetch(`${mesh.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${mesh.adminKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A new key of `tenant` (through the REST admin route), as headers. */
async function keyOf(tenant: string): Promise<Record<string, string>> {
  const created = await rest("POST", "/api/v1/admin/keys", { tenantId: tenant, name: "rest test", tier: "pro" });
  expect(created.status).toBe(200);
  expect(created.body.apiKey.tier).toBe("TIER_PRO");
  return { authorization: `Bearer ${created.body.secret}` };
}

describe("REST routes from the contracts", () => {
  it("POST /api/v1/crypto/hash with friendly enum spellings, by Bearer or X-API-Key", async () => {
    const res = await rest("POST", "/api/v1/crypto/hash", { algorithm: "sha256", text: "abc" });
    expect(res.status).toBe(200);
    expect(res.body.digest).toBe(sha256("abc"));
    const byHeader = await rest(
      "POST",
      "/api/v1/crypto/hash",
      { algorithm: "SHA256", text: "abc", encoding: "base64" },
      { authorization: "", "x-api-key": mesh.adminKey },
    );
    expect(byHeader.status).toBe(200);
    expect(byHeader.body.digest).toBe(createHash("sha256").update("abc").digest("base64"));
    // The full names still work, and the spellings people type.
    const full = await rest("POST", "/api/v1/crypto/hash", { algorithm: "HASH_ALGORITHM_SHA256", text: "abc" });
    expect(full.body.digest).toBe(sha256("abc"));
    for (const algorithm of ["SHA-256", "sha-256", "Sha_256"]) {
      const typed = await rest("POST", "/api/v1/crypto/hash", { algorithm, text: "abc" });
      expect(typed.status, algorithm).toBe(200);
      expect(typed.body.digest).toBe(sha256("abc"));
    }
    // An enum value it cannot read is refused naming the field and listing what it takes.
    const wrong = await rest("POST", "/api/v1/crypto/hash", { algorithm: "SHA-3", text: "abc" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details[0].field).toBe("algorithm");
    expect(wrong.body.error.message).toMatch(/must be one of md5, .*sha256.* \(got "SHA-3"\)/);
    const inQuery = await rest("GET", "/api/v1/jobs?state=finished");
    expect(inQuery.status).toBe(400);
    expect(inQuery.body.error.details[0]).toMatchObject({
      field: "state",
      message: expect.stringMatching(/queued, running, succeeded/),
    });
  });

  it("one error shape: a batch item's error is the envelope's error object; a batch that failed whole is not a 200", async () => {
    const partly = await rest("POST", "/api/v1/crypto/hash:batch?wait=30s", {
      items: [{ algorithm: "sha256", text: "a" }, { text: "no algorithm" }],
    });
    expect(partly.status).toBe(200);
    expect(partly.body.job.state).toBe("JOB_STATE_FAILED");
    expect(partly.body.job.items[1].error).toEqual({
      code: "VALIDATION_ERROR",
      message: "algorithm: is required",
      details: [{ field: "algorithm", message: "is required" }],
      requestId: expect.any(String),
    });
    // Every item failed: the status and code of the items, each item's violations named, the job beside.
    const whole = await rest("POST", "/api/v1/crypto/hash:batch?wait=30s", {
      items: [{ text: "no algorithm" }, { text: "none either" }],
    });
    expect(whole.status).toBe(400);
    expect(whole.body.error.code).toBe("VALIDATION_ERROR");
    expect(whole.body.error.message).toMatch(
      /every item of the batch failed \(2\); items\[0\]: algorithm: is required/,
    );
    expect(whole.body.error.details).toEqual([
      { field: "items[0].algorithm", message: "is required" },
      { field: "items[1].algorithm", message: "is required" },
    ]);
    expect(whole.body.job.counts).toMatchObject({ total: 2, failed: 2 });
    // Asked for the job's state, the same job is a 200, its items' errors in the same shape; so are its events.
    const state = await rest("GET", `/api/v1/jobs/${whole.body.job.id}`);
    expect(state.status).toBe(200);
    expect(state.body.job.items[0].error.code).toBe("VALIDATION_ERROR");
    const events = await fetch(`${mesh.url}/api/v1/jobs/${whole.body.job.id}/events`, {
      headers: { authorization: `Bearer ${mesh.adminKey}` },
    });
    const finished = (await events.text())
      .split("\n\n")
      .filter((block) => block.includes("event: itemFinished"))
      .map((block) => JSON.parse(block.slice(block.indexOf("data: ") + 6)));
    expect(finished.map((e) => e.itemFinished.item.error.details[0].field)).toEqual(["algorithm", "algorithm"]);
    // The OpenAPI document says so.
    const doc = await (await fetch(`${mesh.url}/openapi.json`)).json();
    expect(doc.components.schemas["flowforge.jobs.v1.JobItem"].properties.error.$ref).toBe(
      "#/components/schemas/flowforge.Error",
    );
    expect(doc.components.schemas["flowforge.ErrorEnvelope"].properties.error.$ref).toBe(
      "#/components/schemas/flowforge.Error",
    );
  });

  it("answers zero values (item 0's index, zero counts), which Connect JSON leaves out", async () => {
    const submitted = await rest("POST", "/api/v1/crypto/hash:batch?wait=30s", {
      items: [{ algorithm: "sha256", text: "a" }],
    });
    expect(submitted.status).toBe(200);
    const job = submitted.body.job;
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(job.counts).toEqual({ total: 1, succeeded: 1, failed: 0, cancelled: 0 });
    expect(job.items[0].index).toBe(0);
    expect(job.items[0].result.digest).toBe(sha256("a"));
  });

  it("a batch without @type is a job; GET ?wait= answers it finished; its events stream as SSE", async () => {
    const texts = ["abc", "def", "ghi"];
    const submitted = await rest("POST", "/api/v1/crypto/hash:batch", {
      items: texts.map((text) => ({ algorithm: "sha256", text })),
    });
    expect(submitted.status).toBe(200);
    const id = submitted.body.job.id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const done = await rest("GET", `/api/v1/jobs/${id}?wait=30s`);
    expect(done.status).toBe(200);
    expect(done.body.job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(done.body.job.items.map((i: { result: { digest: string } }) => i.result.digest)).toEqual(texts.map(sha256));

    const events = await fetch(`${mesh.url}/api/v1/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${mesh.adminKey}`, accept: "text/event-stream" },
    });
    expect(events.headers.get("content-type")).toBe("text/event-stream");
    const parsed = (await events.text())
      .split("\n\n")
      .filter((block) => block.startsWith("id:"))
      .map((block) => {
        const [id, event, data] = block.split("\n");
        return { id: Number(id.slice(4)), event: event.slice(7), data: JSON.parse(data.slice(6)) };
      });
    expect(parsed.map((e) => e.id)).toEqual(parsed.map((_, i) => i + 1));
    expect(parsed.filter((e) => e.event === "itemFinished")).toHaveLength(3);
    expect(parsed.at(-1)?.data.stateChanged.state).toBe("JOB_STATE_SUCCEEDED");

    // Resuming after event 2 replays from 3.
    const resumed = await fetch(`${mesh.url}/api/v1/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${mesh.adminKey}`, "last-event-id": "2" },
    });
    const ids = [...(await resumed.text()).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids[0]).toBe(3);
    expect(ids.at(-1)).toBe(parsed.at(-1)?.id);
  });

  it("lists jobs with query parameters, cancels with :cancel, and keeps tenants apart", async () => {
    const a = await keyOf("rest-tenant-a");
    const b = await keyOf("rest-tenant-b");
    const submitted = await rest("POST", "/api/v1/math/evaluate:batch?wait=30s", { items: [{ expression: "2+3" }] }, a);
    expect(submitted.body.job.items[0].result.value).toBe(5);
    const id = submitted.body.job.id;
    const listed = await rest("GET", "/api/v1/jobs?state=succeeded&page_size=10", undefined, a);
    expect(listed.body.jobs.map((j: { id: string }) => j.id)).toContain(id);
    // By submit time, a Timestamp in the query as RFC 3339 text.
    const created = submitted.body.job.createTime;
    const since = await rest("GET", `/api/v1/jobs?created_after=${created}`, undefined, a);
    expect(since.status, JSON.stringify(since.body)).toBe(200);
    expect(since.body.jobs.map((j: { id: string }) => j.id)).toContain(id);
    const later = await rest("GET", "/api/v1/jobs?created_after=2099-01-01T00:00:00Z", undefined, a);
    expect(later.body.jobs).toEqual([]);
    const backwards = await rest(
      "GET",
      "/api/v1/jobs?created_after=2099-01-01T00:00:00Z&created_before=2020-01-01T00:00:00Z",
      undefined,
      a,
    );
    expect(backwards.body.error.details[0].field).toBe("created_before");
    const unreadable = await rest("GET", "/api/v1/jobs?created_after=yesterday", undefined, a);
    expect(unreadable.status).toBe(400);
    expect(unreadable.body.error.details[0].field).toBe("created_after");
    const other = await rest("GET", "/api/v1/jobs?state=succeeded", undefined, b);
    expect(other.body.jobs.map((j: { id: string }) => j.id)).not.toContain(id);
    const hidden = await rest("GET", `/api/v1/jobs/${id}`, undefined, b);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe("NOT_FOUND");
    const cancelled = await rest("POST", `/api/v1/jobs/${id}:cancel`, undefined, a);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.job.state).toBe("JOB_STATE_SUCCEEDED"); // finished jobs stay as they are
  });

  it("data capabilities answer under /api/v1/data and /api/v1/math", async () => {
    const converted = await rest("POST", "/api/v1/data/convert", { input: "a,b\n1,x\n", from: "csv", to: "json" });
    expect(converted.body.data).toEqual([{ a: 1, b: "x" }]);
    const described = await rest("POST", "/api/v1/math/describe", { values: [2, 4, 4, 4, 5, 5, 7, 9] });
    expect(described.body.mean).toBe(5);
  });

  it("the transform capability is `data` everywhere a user meets it: routes, scope, reference, health", async () => {
    const keyWith = async (scopes: string[]) => {
      const made = await rest("POST", "/api/v1/admin/keys", { tenantId: "t-data", name: scopes.join(","), scopes });
      expect(made.status, JSON.stringify(made.body)).toBe(200);
      return { authorization: `Bearer ${made.body.secret}` };
    };
    const csv = { input: "a\n1\n", from: "csv", to: "json" };
    for (const scopes of [["data"], ["transform"]]) {
      const converted = await rest("POST", "/api/v1/data/convert", csv, await keyWith(scopes));
      expect(converted.status, scopes[0]).toBe(200);
    }
    const other = await rest("POST", "/api/v1/data/convert", csv, await keyWith(["crypto"]));
    expect(other.status).toBe(403);
    expect(other.body.error.message).toBe('this API key lacks the "data" scope');
    // As a job: `jobs` and `data`.
    const batch = await rest(
      "POST",
      "/api/v1/data/convert:batch?wait=30s",
      { items: [csv] },
      await keyWith(["jobs", "data"]),
    );
    expect(batch.status).toBe(200);
    expect(batch.body.job.state).toBe("JOB_STATE_SUCCEEDED");
    const refused = await rest(
      "POST",
      "/api/v1/data/convert:batch",
      { items: [csv] },
      await keyWith(["jobs", "crypto"]),
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/lacks the "data" scope/);
    for (const path of ["/api/v1/data/openapi.json", "/api/v1/data/health"])
      expect((await fetch(`${mesh.url}${path}`)).status, path).toBe(200);
    // The identity lists every scope a key can hold.
    const identity = await rest("GET", "/api/v1/account/identity", undefined, await keyWith(["data"]));
    const known = identity.body.knownScopes.map((s: { name: string }) => s.name);
    expect(known).toEqual(expect.arrayContaining(["*", "admin", "blobs", "jobs", "crypto", "data"]));
    expect(known).not.toContain("transform");
    expect(new Set(known).size).toBe(known.length);
  });
});

describe("files as workflow tools send them", () => {
  const auth = () => ({ authorization: `Bearer ${mesh.adminKey}` });
  const twoPages = () => readFileSync(new URL("../../scripts/generate/samples/document.pdf", import.meta.url));

  it("a CSV as a form's file part (n8n binary data) converts, as the `input` text field or the `input_data` bytes", async () => {
    for (const part of ["input", "input_data"]) {
      const form = new FormData();
      form.set("from", "csv");
      form.set("to", "json");
      form.set(part, new Blob(["name,qty\nbolt,3\n"], { type: "text/csv" }), "parts.csv");
      const res = await fetch(`${mesh.url}/api/v1/data/convert`, { method: "POST", headers: auth(), body: form });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.data).toEqual([{ name: "bolt", qty: 3 }]);
    }
    // A text field's file must be UTF-8.
    const form = new FormData();
    form.set("from", "csv");
    form.set("to", "json");
    form.set("input", new Blob([Buffer.from([0xff, 0xfe, 0x41])]), "latin.csv");
    const bad = await fetch(`${mesh.url}/api/v1/data/convert`, { method: "POST", headers: auth(), body: form });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.details[0].field).toBe("input");
  });

  it("a body that is the file itself (n8n's Binary File body, curl --data-binary), the other fields in the query", async () => {
    const info = await fetch(`${mesh.url}/api/v1/pdf/info`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf" },
      body: twoPages(),
    });
    const body = await info.json();
    expect(info.status, JSON.stringify(body)).toBe(200);
    expect(body.pageCount).toBe(2);
    const selected = await fetch(`${mesh.url}/api/v1/pdf/select-pages?pages=2`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf", accept: "application/pdf" },
      body: twoPages(),
    });
    expect(selected.status).toBe(200);
    expect(selected.headers.get("content-type")).toBe("application/pdf");
    // Without an Accept header, as a workflow tool sends it: `?answer=file` (beside the route's own query fields).
    const merged = await fetch(`${mesh.url}/api/v1/pdf/select-pages?pages=1&answer=file`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf", accept: "application/json, */*;q=0.7" },
      body: twoPages(),
    });
    expect(merged.headers.get("content-type")).toBe("application/pdf");
    expect(merged.headers.get("content-disposition")).toMatch(/filename="select-pages\.pdf"/);
    expect((await merged.arrayBuffer()).byteLength).toBeGreaterThan(100);
    const asJson = await fetch(`${mesh.url}/api/v1/pdf/info?answer=json`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf", accept: "application/pdf" },
      body: twoPages(),
    });
    expect((await asJson.json()).pageCount).toBe(2);
    const badAnswer = await fetch(`${mesh.url}/api/v1/pdf/info?answer=zip`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf" },
      body: twoPages(),
    });
    expect((await badAnswer.json()).error.details[0].field).toBe("answer");
    const hashed = await fetch(`${mesh.url}/api/v1/crypto/hash?algorithm=SHA-256`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/octet-stream" },
      body: twoPages(),
    });
    expect((await hashed.json()).digest).toBe(createHash("sha256").update(twoPages()).digest("hex"));
    const csv = await fetch(`${mesh.url}/api/v1/data/convert?from=csv&to=json`, {
      method: "POST",
      headers: { ...auth(), "content-type": "text/csv" },
      body: "a,b\n1,2\n",
    });
    expect((await csv.json()).data).toEqual([{ a: 1, b: 2 }]);
    // A query field the route does not have is named; a route without one file field still wants JSON.
    const unknown = await fetch(`${mesh.url}/api/v1/pdf/info?colour=red`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf" },
      body: twoPages(),
    });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error.details[0].field).toBe("colour");
    const merge = await fetch(`${mesh.url}/api/v1/pdf/merge`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/pdf" },
      body: twoPages(),
    });
    expect(merge.status).toBe(415);
  });
});

describe("REST errors in the envelope", () => {
  const envelope = (res: Sent, code: string) => {
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.requestId).toBe(res.headers.get("x-request-id"));
    expect(typeof res.body.error.message).toBe("string");
  };

  it("a missing field is 400 VALIDATION_ERROR naming it; no key is 401", async () => {
    const missing = await rest("POST", "/api/v1/crypto/hash", { text: "abc" });
    expect(missing.status).toBe(400);
    envelope(missing, "VALIDATION_ERROR");
    expect(missing.body.error.details).toEqual([{ field: "algorithm", message: expect.any(String) }]);
    const anonymous = await rest(
      "POST",
      "/api/v1/crypto/hash",
      { algorithm: "sha256", text: "abc" },
      { authorization: "" },
    );
    expect(anonymous.status).toBe(401);
    envelope(anonymous, "UNAUTHORIZED");
  });

  it("over Connect JSON, a batch item without @type (or with an unknown one) is named items[i] in a BadRequest", async () => {
    const submit = (items: unknown[]) =>
      rest("POST", "/flowforge.jobs.v1.JobService/SubmitJob", {
        method: "flowforge.crypto.v1.CryptoService/Hash",
        items,
      });
    const hash = { "@type": "type.googleapis.com/flowforge.crypto.v1.HashRequest", algorithm: "HASH_ALGORITHM_MD5" };
    for (const [items, field, says] of [
      [[hash, { algorithm: "HASH_ALGORITHM_MD5" }], "items[1]", /needs "@type"/],
      [[{ ...hash, "@type": "type.googleapis.com/acme.Nothing" }], "items[0]", /acme\.Nothing/],
    ] as const) {
      const res = await submit([...items]);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("invalid_argument");
      const badRequest = res.body.details.find((d: { type: string }) => d.type === "google.rpc.BadRequest");
      expect(badRequest.debug.fieldViolations[0].field).toBe(field);
      expect(badRequest.debug.fieldViolations[0].description).toMatch(says);
    }
  });

  it("a bad batch item names items[i] and its field", async () => {
    const res = await rest("POST", "/api/v1/crypto/hash:batch", {
      items: [
        { algorithm: "sha256", text: "a" },
        { algorithm: "md4", text: "b" },
      ],
    });
    expect(res.status).toBe(400);
    envelope(res, "VALIDATION_ERROR");
    expect(res.body.error.details[0].field).toBe("items[1].algorithm");
  });

  it("unknown routes 404, wrong verbs 405 with Allow, bodies that are not JSON 415", async () => {
    const unknown = await rest("POST", "/api/v1/crypto/nothing", {});
    expect(unknown.status).toBe(404);
    envelope(unknown, "NOT_FOUND");
    const verb = await rest("GET", "/api/v1/crypto/hash");
    expect(verb.status).toBe(405);
    expect(verb.headers.get("allow")).toBe("POST");
    envelope(verb, "METHOD_NOT_ALLOWED");
    for (const contentType of ["application/x-www-form-urlencoded", undefined]) {
      const res = await fetch(`${mesh.url}/api/v1/crypto/hash`, {
        method: "POST",
        headers: { authorization: `Bearer ${mesh.adminKey}`, ...(contentType ? { "content-type": contentType } : {}) },
        body: new TextEncoder().encode("algorithm=sha256&text=abc"),
      });
      expect(res.status).toBe(415);
      const body = await res.json();
      expect(body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      expect(body.error.message).toContain("Content-Type: application/json");
    }
  });

  it("path and query values that do not fit their field, a body on a GET, unknown parameters", async () => {
    const badId = await rest("GET", "/api/v1/jobs/not-a-uuid");
    expect(badId.status).toBe(400);
    expect(badId.body.error.details[0].field).toBe("job_id");
    const badNumber = await rest("GET", "/api/v1/jobs?page_size=many");
    expect(badNumber.body.error.details[0].field).toBe("page_size");
    const badEnum = await rest("GET", "/api/v1/jobs?state=sleeping");
    expect(badEnum.status).toBe(400);
    expect(badEnum.body.error.details[0].field).toBe("state");
    const unknown = await rest("GET", "/api/v1/jobs?colour=red");
    expect(unknown.body.error.details[0].field).toBe("colour");
    // A well-known type that does not parse is named too, saying how it is written.
    const badTime = await rest("GET", "/api/v1/jobs?created_after=yesterday");
    expect(badTime.status).toBe(400);
    expect(badTime.body.error.details[0]).toEqual({
      field: "created_after",
      message: expect.stringMatching(/not a Timestamp .*RFC 3339 time such as 2026-/),
    });
    const badTimeConnect = await rest("POST", "/flowforge.jobs.v1.JobService/ListJobs", { createdBefore: 5 });
    expect(badTimeConnect.status).toBe(400);
    const badRequest = badTimeConnect.body.details.find((d: { type: string }) => d.type === "google.rpc.BadRequest");
    expect(badRequest.debug.fieldViolations[0]).toEqual({
      field: "created_before",
      description: expect.stringMatching(/not a Timestamp \(got 5\)/),
    });
    const getBody = '{"state": "succeeded"}';
    const bodyOnGet = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${mesh.url}/api/v1/jobs`);
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "GET",
          headers: {
            authorization: `Bearer ${mesh.adminKey}`,
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(getBody)),
          },
        },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end(getBody);
    });
    expect(bodyOnGet.status).toBe(400);
    expect(JSON.parse(bodyOnGet.body).error.details[0].field).toBe("body");
    const wait = await rest("POST", "/api/v1/crypto/hash?wait=forever", { algorithm: "sha256", text: "a" });
    expect(wait.status).toBe(400);
    expect(wait.body.error.details[0].field).toBe("wait");
  });

  it("a query of 100,000 parameters is refused in the envelope, and the gateway answers the next call", async () => {
    const few = `/api/v1/jobs?${Array.from({ length: 101 }, (_, i) => `state=s${i}`).join("&")}`;
    const over = await rest("GET", few);
    expect(over.status).toBe(400);
    expect(over.body.error.details[0].field).toBe("query");
    const huge = await rest("GET", `/api/v1/jobs?${Array.from({ length: 100_000 }, (_, i) => `p${i}=1`).join("&")}`);
    expect(huge.status).toBe(431);
    expect(huge.body.error.code).toBe("REQUEST_HEADER_FIELDS_TOO_LARGE");
    const next = await rest("POST", "/api/v1/crypto/hash", { algorithm: "sha256", text: "abc" });
    expect(next.body.digest).toBe(sha256("abc"));
  });

  it("a body over the limit is 413 in the envelope before it is read", async () => {
    const res = await fetch(`${mesh.url}/api/v1/crypto/hash`, {
      method: "POST",
      headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ algorithm: "sha256", text: "x".repeat(70 * 1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
  });
});

describe("usage metering", () => {
  it("a tenant reads its own usage per key, method and day; an admin reads any tenant's; others see none of it", async () => {
    const a = await keyOf("usage-a");
    const identity = await rest("GET", "/api/v1/account/identity", undefined, a);
    expect(identity.body).toMatchObject({
      tenantId: "usage-a",
      tier: "TIER_PRO",
      quota: { perMinute: 2000, perDay: 50_000 },
    });
    const keyId = identity.body.keyId;
    for (const text of ["a", "bb", "ccc"]) await rest("POST", "/api/v1/crypto/hash", { algorithm: "sha256", text }, a);
    await rest("POST", "/api/v1/crypto/hash", { text: "no algorithm" }, a); // an error
    await rest(
      "POST",
      "/api/v1/crypto/hash:batch",
      {
        items: [
          { algorithm: "md5", text: "1" },
          { algorithm: "md5", text: "2" },
        ],
      },
      a,
    );
    // What is left of the day's quota: the identity call itself, four calls and two batch items later.
    const day = (body: { quotaWindows: { name: string; limit: number; remaining: number; resetTime: string }[] }) =>
      body.quotaWindows.find((w) => w.name === "day")!;
    const after = await rest("GET", "/api/v1/account/identity", undefined, a);
    expect(day(identity.body)).toMatchObject({ limit: 50_000, remaining: 49_999 });
    expect(after.body.quotaWindows.map((w: { name: string }) => w.name)).toEqual(["minute", "day"]);
    expect(Date.parse(day(after.body).resetTime)).toBeGreaterThan(Date.now());
    if (day(after.body).resetTime === day(identity.body).resetTime) expect(day(after.body).remaining).toBe(49_999 - 7);
    const today = new Date().toISOString().slice(0, 10);
    const own = await rest("GET", `/api/v1/account/usage?start_day=${today}`, undefined, a);
    expect(own.status).toBe(200);
    const hash = own.body.usage.find((u: { method: string }) => u.method === "flowforge.crypto.v1.CryptoService/Hash");
    expect(hash).toMatchObject({ keyId, tenantId: "usage-a", day: today, calls: "4", errors: "1", jobItems: "0" });
    expect(Number(hash.bytesIn)).toBeGreaterThan(4 * 30);
    expect(Number(hash.bytesOut)).toBeGreaterThan(3 * 64); // three hex SHA-256 digests at least
    const submit = own.body.usage.find(
      (u: { method: string }) => u.method === "flowforge.jobs.v1.JobService/SubmitJob",
    );
    expect(submit).toMatchObject({ calls: "1", errors: "0", jobItems: "2" });
    // The admin sees it by tenant; another tenant sees only its own (nothing).
    const admin = await rest("GET", "/api/v1/admin/usage?tenant_id=usage-a");
    expect(admin.body.usage.map((u: { tenantId: string }) => u.tenantId)).toEqual(expect.arrayContaining(["usage-a"]));
    expect(admin.body.usage.every((u: { tenantId: string }) => u.tenantId === "usage-a")).toBe(true);
    const b = await keyOf("usage-b");
    const other = await rest("GET", "/api/v1/account/usage", undefined, b);
    expect(other.body.usage.filter((u: { tenantId: string }) => u.tenantId === "usage-a")).toEqual([]);
    // A tenant key cannot use the admin route.
    expect((await rest("GET", "/api/v1/admin/usage", undefined, a)).status).toBe(403);
    const badDay = await rest("GET", "/api/v1/account/usage?start_day=2026-13-01", undefined, a);
    expect(badDay.body.error.details[0].field).toBe("start_day");
  });
});

describe("GET /health, the status report", () => {
  it("healthy, with the version, the uptime and a check per part and capability", async () => {
    const res = await fetch(`${mesh.url}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    const version = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
    expect(body).toMatchObject({ status: "healthy", version });
    expect(body.uptime).toBeGreaterThanOrEqual(0);
    expect(body.checks.database.status).toBe("healthy");
    expect(body.checks.redis).toEqual({ status: "healthy", mode: "in-memory" });
    expect(body.checks.nats).toEqual({ status: "healthy", mode: "embedded" });
    for (const capability of ["crypto", "jobs", "math", "transform"])
      expect(body.checks[capability].status).toBe("healthy");
    // /healthz stays for probes.
    expect((await (await fetch(`${mesh.url}/healthz`)).json()).status).toBe("SERVING");
  });
});

describe("tiers through REST", () => {
  it("a TIER_FREE key: the 101st call within a minute is 429 with Retry-After and RateLimit headers", async () => {
    const into = Date.now() % 60_000;
    if (into > 45_000) await new Promise((r) => setTimeout(r, 60_000 - into + 50)); // one minute window
    const created = await rest("POST", "/api/v1/admin/keys", { tenantId: "rest-free", tier: "free" });
    const key = { authorization: `Bearer ${created.body.secret}` };
    const statuses: number[] = [];
    let last: Sent | undefined;
    for (let i = 0; i < 101; i++) {
      last = await rest("POST", "/api/v1/crypto/hash", { algorithm: "sha256", text: `${i}` }, key);
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 100).every((s) => s === 200)).toBe(true);
    expect(last!.status).toBe(429);
    expect(last!.body.error.code).toBe("RATE_LIMITED");
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(last!.headers.get("ratelimit-policy")).toBe('"minute";q=100;w=60, "day";q=1000;w=86400');
    expect(last!.headers.get("ratelimit")).toMatch(/^"minute";r=0;t=\d+, "day";r=900;t=\d+$/);
  });

  it("a key's tier and own quota are set through the admin route (TIER_BASIC included)", async () => {
    const created = await rest("POST", "/api/v1/admin/keys", {
      tenantId: "rest-basic",
      tier: "basic",
      quota: { perMinute: 2 },
    });
    expect(created.body.apiKey).toMatchObject({ tier: "TIER_BASIC", quota: { perMinute: 2, perDay: 0 } });
    const key = { authorization: `Bearer ${created.body.secret}` };
    const first = await rest("POST", "/api/v1/crypto/hash", { algorithm: "md5", text: "a" }, key);
    expect(first.headers.get("ratelimit-policy")).toBe('"minute";q=2;w=60, "day";q=10000;w=86400');
  });
});

describe("the OpenAPI document and the reference", () => {
  it("GET /openapi.json is valid OpenAPI 3.1 with the REST paths, security schemes and the envelope", async () => {
    const res = await fetch(`${mesh.url}/openapi.json`);
    expect(res.headers.get("content-type")).toBe("application/json");
    const doc = await res.json();
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    for (const path of [
      "/api/v1/crypto/hash",
      "/api/v1/crypto/hash:batch",
      "/api/v1/jobs/{job_id}",
      "/api/v1/jobs/{job_id}/events",
    ])
      expect(doc.paths[path], path).toBeDefined();
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["apiKeyHeader", "bearerAuth"]);
    const hash = doc.paths["/api/v1/crypto/hash"].post;
    expect(hash.operationId).toBe("CryptoService_Hash");
    expect(hash.requestBody.content["application/json"].example).toBeDefined();
    expect(doc.components.schemas["flowforge.crypto.v1.HashRequest"].properties.algorithm.enum).toContain("sha256");
    expect(doc.components.schemas["flowforge.Error"].required).toContain("requestId");
  });

  it("one document per capability under its prefix", async () => {
    const crypto = await (await fetch(`${mesh.url}/api/v1/crypto/openapi.json`)).json();
    const paths = Object.keys(crypto.paths);
    expect(paths.length).toBeGreaterThan(10);
    expect(paths.every((p) => p.startsWith("/api/v1/crypto/"))).toBe(true);
    expect(crypto.tags.map((t: { name: string }) => t.name)).toEqual(["crypto"]);
    expect((await new Validator().validate(crypto)).valid).toBe(true);
    const data = await (await fetch(`${mesh.url}/api/v1/data/openapi.json`)).json();
    expect(Object.keys(data.paths)).toContain("/api/v1/data/convert");
  });

  it("a client built from the document at run time calls the gateway with what it produces", async () => {
    const definition = (await (await fetch(`${mesh.url}/openapi.json`)).json()) as Document;
    const api = new OpenAPIClientAxios({
      definition,
      axiosConfigDefaults: { baseURL: mesh.url, headers: { authorization: `Bearer ${mesh.adminKey}` } },
    });
    // biome-ignore lint/suspicious/noExplicitAny: operations are built from the document at run time
    const client: any = await api.init();
    const hashed = await client.CryptoService_Hash(null, { algorithm: "sha256", text: "abc" });
    expect(hashed.data.digest).toBe(sha256("abc"));
    const batch = await client.CryptoService_Hash_Batch(null, { items: [{ algorithm: "sha256", text: "xyz" }] });
    const job = await client.JobService_GetJob({ job_id: batch.data.job.id, wait: "30s" });
    expect(job.data.job.items[0].result.digest).toBe(sha256("xyz"));
    const refused = await client
      .CryptoService_Hash(null, { text: "abc" })
      .catch((e: { response: { status: number; data: unknown } }) => e.response);
    expect(refused.status).toBe(400);
    expect(refused.data).toMatchObject({ error: { code: "VALIDATION_ERROR", details: [{ field: "algorithm" }] } });
  });

  it("per capability: /api/v1/<capability>/health and /metrics", async () => {
    await rest("POST", "/api/v1/crypto/hash", { algorithm: "sha256", text: "metrics" });
    const health = await fetch(`${mesh.url}/api/v1/crypto/health`);
    expect(health.status).toBe(200);
    const body = await health.json();
    expect(body.status).toBe("healthy");
    expect(Object.keys(body.checks).sort()).toEqual(["crypto", "database"]);
    expect(Object.keys((await (await fetch(`${mesh.url}/api/v1/data/health`)).json()).checks).sort()).toEqual([
      "database",
      "transform",
    ]);
    const metrics = await (await fetch(`${mesh.url}/api/v1/crypto/metrics`)).text();
    expect(metrics).toContain("# TYPE flowforge_rpc_requests_total counter");
    expect(metrics).toMatch(
      /flowforge_rpc_requests_total\{method="flowforge\.crypto\.v1\.CryptoService\/Hash",code="ok",protocol="rest"\} \d+/,
    );
    expect(metrics).not.toContain("MathService");
  });

  it("GET /docs is an HTML reference served without a CDN", async () => {
    const page = await fetch(`${mesh.url}/docs`);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).toContain('url: "/openapi.json"');
    const scripts = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.every((s) => s.startsWith("/docs/"))).toBe(true);
    for (const asset of scripts) {
      const res = await fetch(`${mesh.url}${asset}`);
      expect(res.status, asset).toBe(200);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(500);
    }
  });
});
