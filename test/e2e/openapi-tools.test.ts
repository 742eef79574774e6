/**
 * The OpenAPI document as tools use it, against the running gateway: Redocly's recommended lint
 * finds nothing (redocly.yaml says why any rule is off), `servers` names the gateway, every
 * documented example is accepted, and a Postman import (openapi-to-postmanv2, what Postman's
 * importer runs) gives a collection whose host and token are variables and whose sample bodies
 * the gateway accepts.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import openapiToPostman from "openapi-to-postmanv2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Mesh, root, startMesh } from "../support/mesh.js";

const run = promisify(execFile);
let mesh: Mesh;
// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document read as JSON
let doc: any;

beforeAll(async () => {
  mesh = await startMesh({});
  doc = await (await fetch(`${mesh.url}/openapi.json`)).json();
});
afterAll(() => mesh?.stop());

/** POSTs, PUTs or GETs `body` to `path` as the admin; answers the status and the JSON. */
async function call(verb: string, path: string, body?: unknown) {
  const res = await fetch(`${mesh.url}${path}`, {
    method: verb,
    headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A path with its variables filled: ids that name nothing (a 404 is an accepted input). */
const filled = (template: string) =>
  template.replace(/\{[a-z_]+\}/g, (v) => (v === "{collection}" ? "docs" : "00000000-0000-4000-8000-000000000000"));

/** Whether an answer refused the input itself (not a missing resource or an unconfigured provider). */
const refusedInput = (answer: { status: number; body?: { error?: { code: string } } }) =>
  answer.status === 400 && answer.body?.error?.code === "VALIDATION_ERROR";

describe("the OpenAPI document with the tools people import it into", () => {
  it("passes Redocly's recommended lint with no error and no warning", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ff-openapi-"));
    const file = join(dir, "openapi.json");
    await writeFile(file, JSON.stringify(doc));
    const { stdout, stderr } = await run(
      join(root, "node_modules/.bin/redocly"),
      ["lint", file, "--config", join(root, "redocly.yaml"), "--format", "stylish"],
      { env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" } },
    ).catch((err: { stdout: string; stderr: string }) => err);
    const output = `${stdout}\n${stderr}`;
    expect(output).toMatch(/valid/);
    expect(output).not.toMatch(/\b(error|warning)\s+[a-z-]+/);
  }, 60_000);

  it("names the gateway in `servers`: the request's host, or what the proxy forwarded", async () => {
    expect(doc.servers).toEqual([{ url: mesh.url }]);
    const proxied = await fetch(`${mesh.url}/api/v1/crypto/openapi.json`, {
      headers: { "x-forwarded-proto": "https", "x-forwarded-host": "api.example.com" },
    });
    expect((await proxied.json()).servers).toEqual([{ url: "https://api.example.com" }]);
    const hostile = await fetch(`${mesh.url}/openapi.json`, {
      headers: { "x-forwarded-host": "evil.example/<script>" },
    });
    expect((await hostile.json()).servers).toEqual([{ url: "/" }]);
  });

  it("documents path-only operations without a body, and the upload's query parameters", () => {
    expect(doc.paths["/api/v1/blobs/{blob_id}"].delete.requestBody).toBeUndefined();
    expect(doc.paths["/api/v1/admin/keys/{id}:revoke"].post.requestBody).toBeUndefined();
    const upload = doc.paths["/api/v1/blobs"].put ?? doc.paths["/api/v1/blobs"].post;
    expect(upload.parameters.map((p: { name: string }) => p.name)).toEqual(["filename", "ttl_seconds"]);
    expect(upload.summary).toMatch(/request body/);
    // Each error status with an example of its own code.
    expect(doc.components.responses.Error401.content["application/json"].example.error.code).toBe("UNAUTHORIZED");
    expect(doc.components.responses.Error429.content["application/json"].example.error.code).toBe("RATE_LIMITED");
  });

  it("every documented example is accepted by the gateway", async () => {
    const refused = new Set<string>();
    const failed: string[] = [];
    let tried = 0;
    for (const [template, operations] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [verb, op] of Object.entries(operations)) {
        const example = op.requestBody?.content?.["application/json"]?.example;
        if (example === undefined) continue;
        tried++;
        const answer = await call(verb.toUpperCase(), filled(template), example);
        if (answer.status >= 500) failed.push(`${op.operationId}: ${answer.status} ${JSON.stringify(answer.body)}`);
        if (refusedInput(answer)) refused.add(op.operationId);
      }
    }
    expect(tried).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    expect([...refused].sort()).toEqual([]);
  }, 120_000);

  it("imports into Postman with the host and the token as variables, and its sample bodies are accepted", async () => {
    const converted = await new Promise<{ result: boolean; output: { data: any }[]; reason?: string }>(
      (resolve, reject) =>
        openapiToPostman.convert(
          { type: "json", data: doc },
          { requestParametersResolution: "Example", exampleParametersResolution: "Example", folderStrategy: "Tags" },
          (err: { message: string } | null, result: any) => (err ? reject(new Error(err.message)) : resolve(result)),
        ),
    );
    expect(converted.result, converted.reason).toBe(true);
    const collection = converted.output[0].data;
    expect(collection.variable.find((v: { key: string }) => v.key === "baseUrl").value).toBe(mesh.url);
    const requests: any[] = [];
    const walk = (items: any[]) => {
      for (const item of items) item.item ? walk(item.item) : requests.push(item);
    };
    walk(collection.item);
    expect(requests.length).toBeGreaterThan(100);
    expect(collection.auth?.type ?? requests[0].request.auth?.type).toBe("bearer");
    const refused = new Set<string>();
    for (const item of requests) {
      const { request } = item;
      if (request.body?.mode !== "raw" || !request.body.raw) continue;
      const path = `/${request.url.path.join("/")}`.replace(/\/:([a-z_]+)/g, "/{$1}");
      const answer = await call(request.method, filled(path), JSON.parse(request.body.raw));
      const operation = doc.paths[path]?.[request.method.toLowerCase()]?.operationId ?? `${request.method} ${path}`;
      if (refusedInput(answer)) refused.add(operation.replace(/_Batch$/, ""));
    }
    expect([...refused].sort()).toEqual([]);
  }, 180_000);
});
