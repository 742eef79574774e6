/**
 * REST routes and inputs from the descriptors: every public method carries a `google.api.http`
 * rule under its capability's one prefix, templates match as grpc-gateway reads them, and path, query and
 * body land in their fields with friendly enum spellings.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { JobState, ListJobsRequestSchema, WatchJobRequestSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import {
  ChromaSubsampling,
  ChromaSubsamplingSchema,
  TransformRequestSchema,
} from "#gen/flowforge/image/v1/image_pb.js";
import { enumChoices } from "#sdk/input.js";
import { capabilities } from "#gen/flowforge/capabilities.js";
import { runsAsJobs } from "../../services/catalog.js";
import { gatewayServices } from "../own-services.js";
import { restErrorCodes } from "../transports/rest/envelope.js";
import { restInput } from "../transports/rest/request.js";
import { httpRuleOf, RestRouter, restRoutes } from "../transports/rest/routes.js";
import { parseTemplate, prefixOf } from "../transports/rest/templates.js";

/** What the gateway serves to callers: every capability's services and the gateway's own. */
const publicServices: DescService[] = [...capabilities.flatMap((c) => c.services), ...gatewayServices];
/** Who owns a service: its capability, or the gateway for its own. */
const ownerOf = (service: DescService) =>
  capabilities.find((c) => c.services.includes(service))?.name ?? service.typeName;

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, field: e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field };
  }
  throw new Error("did not throw");
};

describe("every public method has a REST route", () => {
  const methods = publicServices.flatMap((s) => s.methods.map((m) => ({ service: s, method: m })));

  it.each(methods.map((m) => [`${m.service.typeName}/${m.method.name}`, m] as const))("%s", (_, { method }) => {
    const rule = httpRuleOf(method);
    expect(rule, "add option (google.api.http) to the rpc").toBeDefined();
    expect(rule!.path).toMatch(/^\/api\/v1\/[a-z][a-z0-9-]*(\/|$)/);
    // Side-effect-free methods that take no body are GETs; everything else POSTs its body.
    if (rule!.verb === "GET") expect(rule!.body).toBe("");
    else expect(rule!.body).toBe("*");
    expect(() => parseTemplate(rule!.path)).not.toThrow();
  });

  it("each capability (and each of the gateway's services) keeps its routes under one prefix of its own", () => {
    const prefixesOf = new Map<string, Set<string>>();
    for (const service of publicServices)
      for (const method of service.methods) {
        const owner = ownerOf(service);
        if (!prefixesOf.has(owner)) prefixesOf.set(owner, new Set());
        prefixesOf.get(owner)!.add(prefixOf(httpRuleOf(method)!.path));
      }
    for (const [owner, prefixes] of prefixesOf) expect([owner, prefixes.size]).toEqual([owner, 1]);
    const all = [...prefixesOf.values()].map((p) => [...p][0]);
    expect(new Set(all).size).toBe(all.length);
  });

  it("no two routes share a verb and path", () => {
    const routes = restRoutes(publicServices, () => true);
    const keys = routes.map((r) => `${r.verb} ${r.template}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(routes.length).toBeGreaterThan(methods.length);
  });
});

describe("the README's route tables", () => {
  it("list every route the gateway serves, in its capability's table, with its :batch twin", () => {
    const text = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const tables = new Map(
      [...text.matchAll(/<!-- routes:([a-z]+):start \(npm run generate\) -->\n([\s\S]*?)<!-- routes:\1:end -->/g)].map(
        (m) => [m[1], m[2]],
      ),
    );
    const served = restRoutes(publicServices, runsAsJobs);
    for (const route of served) {
      if (route.batch) continue;
      const table = tables.get(prefixOf(route.template)) ?? "";
      const row = table.split("\n").find((l) => l.includes(`\`${route.verb} ${route.template}\``));
      expect(row, `${route.verb} ${route.template}`).toBeDefined();
      expect(row).toContain(`\`${route.service.name}/${route.method.name}\``);
      const twin = served.some((r) => r.batch && r.template === `${route.template}:batch`);
      expect(row!.includes(`${route.template}:batch`), route.template).toBe(twin);
    }
  });
});

describe("the OpenAPI document (gen/openapi/openapi.json)", () => {
  it("has exactly the gateway's routes, :batch twins included", () => {
    const doc = JSON.parse(readFileSync(new URL("../../gen/openapi/openapi.json", import.meta.url), "utf8")) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((verb) => `${verb.toUpperCase()} ${path}`),
    );
    const served = restRoutes(publicServices, runsAsJobs).map((r) => `${r.verb} ${r.template}`);
    expect(documented.sort()).toEqual(served.sort());
  });

  it("documents form bodies where an input takes files, and file answers where an output holds them", () => {
    type Op = {
      requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
      responses: Record<string, { description: string; content?: Record<string, unknown> }>;
    };
    const doc = JSON.parse(readFileSync(new URL("../../gen/openapi/openapi.json", import.meta.url), "utf8")) as {
      paths: Record<string, Record<string, Op>>;
    };
    const post = (path: string) => doc.paths[path].post;
    const binary = { type: "string", format: "binary" };
    // Merge: a list of PDFs as repeated file parts; the merged PDF as the answer itself.
    const merge = post("/api/v1/pdf/merge");
    expect(merge.requestBody!.content["multipart/form-data"].schema.properties.documents).toEqual({
      type: "array",
      items: binary,
    });
    expect(Object.keys(merge.responses["200"].content!)).toEqual(["application/json", "application/pdf"]);
    // Recognize: one image part and text parts; its answer may carry a searchable PDF.
    const recognize = post("/api/v1/ocr/recognize");
    expect(recognize.requestBody!.content["multipart/form-data"].schema.properties).toMatchObject({
      image: binary,
      languages: { type: "array", items: { type: "string" } },
    });
    // ... or the image itself as the body, the other fields in the query.
    expect(recognize.requestBody!.content).toHaveProperty(["image/*"]);
    expect(recognize.responses["200"].content).toHaveProperty(["application/pdf"]);
    expect(post("/api/v1/pdf/render-pages").responses["200"].content).toHaveProperty(["image/*"]);
    expect(post("/api/v1/pdf/render-pages").responses["200"].description).toMatch(/406 when it holds none or several/);
    // Hash's bytes may be a file (a form part, or the body itself with the algorithm in the query); it answers JSON only.
    const hash = post("/api/v1/crypto/hash");
    expect(Object.keys(hash.requestBody!.content)).toEqual([
      "multipart/form-data",
      "application/octet-stream",
      "application/json",
    ]);
    expect(Object.keys(hash.responses["200"].content!)).toEqual(["application/json"]);
    // Evaluate takes no bytes: JSON only.
    expect(Object.keys(post("/api/v1/math/evaluate").requestBody!.content)).toEqual(["application/json"]);
  });
});

describe("matching", () => {
  const router = new RestRouter(restRoutes(publicServices, runsAsJobs));

  it("finds literal paths, variables and :verb suffixes", () => {
    const hash = router.match("POST", "/api/v1/crypto/hash");
    expect(hash && "route" in hash && hash.route.method.name).toBe("Hash");
    const batch = router.match("POST", "/api/v1/crypto/hash:batch");
    expect(batch && "route" in batch && batch.route.batch).toBe(true);
    const get = router.match("GET", "/api/v1/jobs/a%2Fb");
    expect(get && "route" in get && get.params).toEqual({ job_id: "a/b" });
    const cancel = router.match("POST", "/api/v1/jobs/123:cancel");
    expect(cancel && "route" in cancel && [cancel.route.method.name, cancel.params]).toEqual([
      "CancelJob",
      { job_id: "123" },
    ]);
    const events = router.match("GET", "/api/v1/jobs/123/events");
    expect(events && "route" in events && events.route.method.name).toBe("WatchJob");
  });

  it("tells a wrong verb (with what is allowed) from an unknown path", () => {
    expect(router.match("DELETE", "/api/v1/crypto/hash")).toEqual({ allowed: ["POST"] });
    expect(router.match("POST", "/api/v1/crypto/nothing")).toBeUndefined();
    expect(router.match("POST", "/api/v1/crypto/nothing:batch")).toBeUndefined();
    expect(router.match("POST", "/api/v1/jobs:batch")).toBeUndefined(); // jobs are not batchable
    expect(router.match("POST", "/api/v1/jobs//events")).toBeUndefined(); // an empty variable
  });
});

describe("inputs", () => {
  const none = { params: {}, query: new URLSearchParams(), body: undefined, bodyField: "" };

  it("enum values without their prefix and in any case, full names as well", () => {
    for (const algorithm of ["sha256", "SHA256", "Sha256", "HASH_ALGORITHM_SHA256"]) {
      const input = restInput(HashRequestSchema, { ...none, body: { algorithm, text: "x" }, bodyField: "*" });
      expect(input.algorithm).toBe(HashAlgorithm.SHA256);
    }
    expect(
      fieldOf(() => restInput(HashRequestSchema, { ...none, body: { algorithm: "sha7" }, bodyField: "*" })),
    ).toEqual({ code: Code.InvalidArgument, field: "algorithm" });
    // Without the prefix its unset value declares, where protobuf-es keeps it (`420` is no identifier).
    const chroma = restInput(TransformRequestSchema, {
      ...none,
      body: { chromaSubsampling: "420" },
      bodyField: "*",
    });
    expect(chroma.chromaSubsampling).toBe(ChromaSubsampling.CHROMA_SUBSAMPLING_420);
    expect(enumChoices(ChromaSubsamplingSchema)).toEqual(["420", "444"]);
  });

  it("query parameters by proto or JSON name, typed by their field; a body route refuses them", () => {
    const query = new URLSearchParams("state=succeeded&page_size=5&pageToken=t");
    const input = restInput(ListJobsRequestSchema, { ...none, query });
    expect([input.state, input.pageSize, input.pageToken]).toEqual([JobState.SUCCEEDED, 5, "t"]);
    expect(
      fieldOf(() => restInput(ListJobsRequestSchema, { ...none, query: new URLSearchParams("page_size=1e") })),
    ).toEqual({ code: Code.InvalidArgument, field: "page_size" });
    expect(
      fieldOf(() =>
        restInput(HashRequestSchema, { ...none, query: new URLSearchParams("text=a"), body: {}, bodyField: "*" }),
      ),
    ).toEqual({ code: Code.InvalidArgument, field: "text" });
  });

  it("path variables fill their field and must agree with the body", () => {
    const input = restInput(WatchJobRequestSchema, { ...none, params: { job_id: "j1" } });
    expect(input.jobId).toBe("j1");
    expect(
      fieldOf(() =>
        restInput(WatchJobRequestSchema, { ...none, params: { job_id: "j1" }, body: { jobId: "j2" }, bodyField: "*" }),
      ),
    ).toEqual({ code: Code.InvalidArgument, field: "job_id" });
  });

  it("a body that is not an object names the body", () => {
    expect(fieldOf(() => restInput(HashRequestSchema, { ...none, body: [1], bodyField: "*" })).field).toBe("body");
  });
});

describe("the README's table of REST error codes", () => {
  it("says what the envelope does for every gRPC code", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const table = new Map<string, { code: string; status: number }>();
    for (const m of readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| [^|]+ \| ((?:`[a-z_]+`(?:, )?)+) \|$/gm))
      for (const name of m[3].matchAll(/`([a-z_]+)`/g)) table.set(name[1], { code: m[1], status: Number(m[2]) });
    const snake = (name: string) => name.replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
    for (const [code, expected] of Object.entries(restErrorCodes)) {
      const name = snake(Code[Number(code)]);
      if (name === "resource_exhausted") continue; // two rows: rate limit and size, told apart by the details
      expect(table.get(name), name).toEqual(expected);
    }
    expect(table.get("resource_exhausted")?.status).toBeGreaterThanOrEqual(413);
  });
});
