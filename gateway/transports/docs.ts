/**
 * The REST reference: `GET /openapi.json` (generated from the protos by
 * scripts/generate/openapi.ts at `npm run generate`), one document per capability at
 * `/api/v1/<capability>/openapi.json`, and `/docs`, Swagger UI served from the swagger-ui-dist
 * package (no CDN) where a person can try a call with their key.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { send } from "./node-http.js";
import type { Req, Res } from "./node-http.js";

interface OpenApi {
  tags: { name: string }[];
  paths: Record<string, Record<string, { tags?: string[] }>>;
  [key: string]: unknown;
}

const documentFile = new URL("../../gen/openapi/openapi.json", import.meta.url);
const assetsDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const assets: Record<string, string> = {
  "swagger-ui.css": "text/css",
  "swagger-ui-bundle.js": "text/javascript",
  "swagger-ui-standalone-preset.js": "text/javascript",
  "favicon-32x32.png": "image/png",
};

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>FlowForge API reference</title>
  <link rel="icon" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      persistAuthorization: true,
      tryItOutEnabled: true,
    });
  </script>
</body>
</html>
`;

/** The document restricted to one tag's paths (the components stay whole). */
function forTag(doc: OpenApi, tag: string): OpenApi | undefined {
  const paths = Object.fromEntries(
    Object.entries(doc.paths).filter(([, ops]) => Object.values(ops).some((op) => op.tags?.includes(tag))),
  );
  if (Object.keys(paths).length === 0) return undefined;
  return { ...doc, tags: doc.tags.filter((t) => t.name === tag), paths };
}

/** Options for createDocs. */
export interface DocsOptions {
  /** The gateway's URL as callers reach it; default: each request's own scheme and host. */
  publicUrl?: string;
}

/** A Host header that names a host (and port), nothing else. */
const plainHost = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** Where the caller reached the gateway: the configured URL, else the request's scheme and host. */
function serverOf(req: Req, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl;
  const host = String(req.headers["x-forwarded-host"] ?? req.headers.host ?? "")
    .split(",")[0]
    .trim();
  const forwarded = String(req.headers["x-forwarded-proto"] ?? "")
    .split(",")[0]
    .trim();
  const scheme = forwarded === "https" || forwarded === "http" ? forwarded : "http";
  return plainHost.test(host) ? `${scheme}://${host}` : "/";
}

/** Creates the handler; it answers (and returns true for) the reference's paths only. */
export function createDocs(options: DocsOptions = {}): (req: Req, res: Res, path: string) => boolean {
  const doc = JSON.parse(readFileSync(documentFile, "utf8")) as OpenApi;
  const perTag = new Map<string, OpenApi>();
  for (const { name } of doc.tags) perTag.set(name, forTag(doc, name)!);
  // The document with its `servers` entry, written once per server seen (a few: one per host name).
  const written = new Map<string, string>();
  const withServer = (document: OpenApi, key: string, server: string) => {
    const id = `${key}\0${server}`;
    let text = written.get(id);
    if (text === undefined) {
      text = JSON.stringify({ ...document, servers: [{ url: server }] });
      if (written.size > 64) written.clear();
      written.set(id, text);
    }
    return text;
  };
  const answer = (res: Res, type: string, { body, cache = "no-cache" }: { body: string | Buffer; cache?: string }) =>
    send(res, { status: 200, headers: { "content-type": type, "cache-control": cache }, body });
  const assetCache = new Map<string, Buffer>();

  return (req, res, path) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path === "/openapi.json") {
      answer(res, "application/json", { body: withServer(doc, "", serverOf(req, options.publicUrl)) });
      return true;
    }
    const m = /^\/api\/v1\/([a-z]+)\/openapi\.json$/.exec(path);
    if (m && perTag.has(m[1])) {
      answer(res, "application/json", {
        body: withServer(perTag.get(m[1])!, m[1], serverOf(req, options.publicUrl)),
      });
      return true;
    }
    if (path === "/docs" || path === "/docs/") {
      answer(res, "text/html; charset=utf-8", { body: page });
      return true;
    }
    const asset = path.startsWith("/docs/") ? path.slice("/docs/".length) : "";
    const type = assets[asset];
    if (!type) return false;
    let bytes = assetCache.get(asset);
    if (!bytes) {
      bytes = readFileSync(join(assetsDir, asset));
      assetCache.set(asset, bytes);
    }
    answer(res, type, { body: bytes, cache: "public, max-age=86400" });
    return true;
  };
}
