/**
 * No Docker engine or cluster runs here, so the deployment files are checked against what the
 * code runs: every capability in the catalogue has a compose service and a Deployment with a
 * headless Service on its port, every command names an entry that exists, the gateway is
 * pointed at every capability, and every environment variable set is one the code reads.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { catalog } from "../../services/catalog.js";
import { addressVariable, envName, servicePort } from "#capability/index.js";
import { capabilities } from "#gen/flowforge/capabilities.js";
import {
  composeFile,
  gatewayManifest,
  kustomization,
  networkPolicies,
  prometheusConfig,
  serviceManifest,
} from "../../scripts/generate/deploy.js";
import { renderOverlay } from "../support/k8s.js";
import { root } from "../support/mesh.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML of any shape, checked field by field below
type Obj = Record<string, any>;

const compose: Obj = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
/** What `kubectl kustomize` renders for an overlay (Debian's kubectl, as CI installs it). */
const render = renderOverlay;
const k8s = render("prod");
const names = Object.keys(catalog) as (keyof typeof catalog)[];

/** Every env var name the code reads: `process.env.X` / `env.X`, and the variables of lib/config's specs. */
function envVarsReadByCode(): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith(".ts")) {
        const src = readFileSync(join(root, path), "utf8");
        for (const m of src.matchAll(/\benv\.([A-Z_]+)/g)) found.add(m[1]);
        if (path.endsWith("config/index.ts"))
          for (const m of src.matchAll(/^\s+([A-Z][A-Z0-9_]+): \w+\(/gm)) found.add(m[1]);
        if (/env\[addressVariable\(name\)\]/.test(src)) for (const n of names) found.add(addressVariable(n));
      }
    }
  };
  ["lib", "services", "gateway"].forEach(walk);
  return found;
}

/**
 * The source of the entry a command runs (`node dist/services/main.js <name>` runs the compiled
 * services/main.ts), and the capability it names.
 */
const entryOf = (command: string[]) => {
  expect(command[0]).toBe("node");
  expect(command[1]).toMatch(/^dist\/.+\.js$/);
  return command[1].replace(/^dist\//, "").replace(/\.js$/, ".ts");
};
const capabilityArg = (command: string[]) => command[2];

describe("docker-compose.yml", () => {
  it("runs every capability and the gateway from entries that exist", () => {
    for (const name of [...names, "gateway"]) {
      const svc = compose.services[name];
      expect(svc, name).toBeDefined();
      const entry = entryOf(svc.command);
      expect(existsSync(join(root, entry)), entry).toBe(true);
      if (name !== "gateway") expect([entry, capabilityArg(svc.command)]).toEqual(["services/main.ts", name]);
    }
  });

  it("points the gateway at every capability on its port, and binds services to all interfaces", () => {
    const env = compose.services.gateway.environment;
    for (const name of names) {
      expect(env[addressVariable(name)]).toBe(`dns:///${name}:${servicePort}`);
      expect(compose.services[name].environment.HOST).toBe("0.0.0.0");
    }
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\/\w+:\w+@postgres:5432\//);
  });

  it("sets only variables the code reads", () => {
    const read = envVarsReadByCode();
    for (const name of [...names, "gateway"]) {
      for (const key of Object.keys(compose.services[name].environment)) expect(read, `${name}: ${key}`).toContain(key);
    }
  });
});

describe("k8s manifests", () => {
  const find = (kind: string, name: string) => k8s.find((d) => d.kind === kind && d.metadata.name === name);

  it("have a Deployment, a headless Service on the catalogue port and an HPA per capability", () => {
    for (const name of names) {
      const dep = find("Deployment", name);
      expect(dep, name).toBeDefined();
      const container = dep!.spec.template.spec.containers[0];
      expect([entryOf(container.command), capabilityArg(container.command)]).toEqual(["services/main.ts", name]);
      expect(container.ports[0].containerPort).toBe(servicePort);
      expect(container.readinessProbe.grpc.port).toBe(servicePort);
      const svc = find("Service", name);
      expect(svc!.spec.clusterIP).toBe("None");
      expect(svc!.spec.ports[0].port).toBe(servicePort);
      expect(find("HorizontalPodAutoscaler", name)).toBeDefined();
    }
  });

  it("point the gateway at every capability's headless Service with dns:/// for round_robin", () => {
    const gw = find("Deployment", "gateway")!.spec.template.spec.containers[0];
    expect(existsSync(join(root, entryOf(gw.command)))).toBe(true);
    const env = Object.fromEntries(gw.env.map((e: Obj) => [e.name, e.value]));
    for (const name of names)
      expect(env[addressVariable(name)]).toBe(`dns:///${name}.flowforge.svc.cluster.local:${servicePort}`);
    expect(gw.readinessProbe.httpGet.path).toBe("/healthz");
  });

  it("set only variables the code reads", () => {
    const read = envVarsReadByCode();
    const config = find("ConfigMap", "flowforge")!;
    // OTEL_* (the prod overlay's trace export) are read by the OpenTelemetry SDK (lib/runtime/telemetry.ts).
    for (const key of Object.keys(config.data).filter((k) => !k.startsWith("OTEL_"))) expect(read, key).toContain(key);
    for (const dep of k8s.filter((d) => d.kind === "Deployment")) {
      for (const e of dep.spec.template.spec.containers[0].env ?? []) expect(read, e.name).toContain(e.name);
    }
  });
});

describe("derived from the capability declarations", () => {
  it("docker-compose.yml and k8s/ are what npm run generate writes (not stale)", () => {
    const read = (path: string) => readFileSync(join(root, path), "utf8");
    expect(read("docker-compose.yml")).toBe(composeFile([...capabilities]));
    for (const c of capabilities) expect(read(`k8s/base/${c.name}.yaml`)).toBe(serviceManifest(c));
    expect(read("k8s/base/gateway.yaml")).toBe(gatewayManifest([...capabilities]));
    expect(read("k8s/base/network-policies.yaml")).toBe(networkPolicies([...capabilities]));
    expect(read("k8s/base/kustomization.yaml")).toBe(kustomization([...capabilities]));
    expect(read("k8s/monitoring/prometheus.yml")).toBe(prometheusConfig([...capabilities]));
  });

  it("environment names are safe for any capability name", () => {
    expect(envName("data-transform")).toBe("DATA_TRANSFORM");
    expect(addressVariable("data-transform")).toBe("DATA_TRANSFORM_ADDR");
    expect(Object.keys(catalog).every((n) => /^[A-Z][A-Z0-9_]*$/.test(envName(n)))).toBe(true);
  });
});

describe("Dockerfile", () => {
  it("builds every directory the processes import, runs the compiled code without dev dependencies, as a non-root user", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    const [build, run] = dockerfile.split(/^FROM /m).slice(1);
    // What tsconfig.build.json compiles is copied into the build stage, and its output into the image.
    const compiled = (JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as { include: string[] })
      .include;
    for (const dir of compiled) {
      expect(build).toMatch(new RegExp(`^COPY ${dir} \\./${dir}$`, "m"));
      expect(run).toMatch(new RegExp(`^COPY --from=build /app/dist/${dir} \\./dist/${dir}$`, "m"));
    }
    // Every local package the install links (file: dependencies, such as the TypeScript SDK that
    // the build compiles too) is there before `npm install`.
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<
      string,
      Record<string, string> | undefined
    >;
    const local = ["dependencies", "devDependencies", "optionalDependencies"]
      .flatMap((kind) => Object.values(manifest[kind] ?? {}))
      .filter((spec) => spec.startsWith("file:"))
      .map((spec) => spec.slice("file:".length).replace(/^\.\//, ""));
    expect(local).toContain("sdk/typescript");
    for (const dir of local) expect(build).toMatch(new RegExp(`^COPY ${dir} \\./${dir}$`, "m"));
    // What each import alias of the compiled code (#runtime/*, #sdk/*, …) points at is in the image.
    const aliases = (manifest.imports ?? {}) as Record<string, string>;
    for (const [alias, target] of Object.entries(aliases)) {
      if (alias === "#test/*") continue;
      const top = target.replace(/^\.\//, "").split("/")[0];
      expect(run, `${alias} → ${target}`).toMatch(
        new RegExp(`^COPY --from=build /app/dist/${top} \\./dist/${top}$`, "m"),
      );
    }
    // The web console is built with the rest (web/ into dist/web) and served by the gateway.
    expect(build).toMatch(/^COPY web \.\/web$/m);
    expect(run).toMatch(/^COPY --from=build \/app\/dist\/web \.\/dist\/web$/m);
    // The entry points are bundles (scripts/bundle.ts) whose shared chunks sit in dist/chunks.
    expect(run).toMatch(/^COPY --from=build \/app\/dist\/chunks \.\/dist\/chunks$/m);
    expect(readFileSync(join(root, "scripts/bundle.ts"), "utf8")).toContain('chunkNames: "chunks/');
    expect(build).toMatch(/^RUN npm install\b/m);
    expect(run).toMatch(/^RUN npm install --omit=dev --ignore-scripts\b/m);
    expect(run).toMatch(/^USER node$/m);
    expect(run).toContain('CMD ["node", "dist/gateway/main.js"]');
    // tsx and the compiler are build-time tools only.
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies)).not.toContain("tsx");
    expect(Object.keys(pkg.dependencies)).not.toContain("typescript");
  });

  it("installs the programs the document services call, where the services look for them", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    for (const pkg of [
      "tesseract-ocr",
      "tesseract-ocr-deu",
      "tesseract-ocr-fra",
      "tesseract-ocr-spa",
      "qpdf",
      "chromium",
    ])
      expect(dockerfile).toMatch(new RegExp(`\\b${pkg}\\b`));
    // Debian's chromium package puts the browser where services/pdf/chromium.ts looks by default.
    expect(readFileSync(join(root, "services/pdf/chromium.ts"), "utf8")).toContain('"/usr/bin/chromium"');
  });
});
