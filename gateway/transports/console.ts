/**
 * The web console (web/, built by `npm run build` into dist/web/) at `/`: index.html never cached
 * and under a strict Content-Security-Policy (scripts and styles from this origin only, nothing
 * inline, no framing), the hashed files under /assets/ cached for a year. Without a built console
 * `/` says how to build it.
 */
import { existsSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compiled } from "#runtime/code.js";
import { send } from "./node-http.js";
import type { Req, Res } from "./node-http.js";

/** Where the build puts the console: dist/web, beside the compiled gateway or below the checkout. */
export const consoleDir = fileURLToPath(new URL(compiled ? "../../web/" : "../../dist/web/", import.meta.url));

/** What the console's page may load and do. */
export const consolePolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "frame-src 'self' blob:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const types: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".map": "application/json",
};

const pageHeaders = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-cache",
  "content-security-policy": consolePolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Creates the handler; it answers (and returns true for) `/`, `/index.html` and `/assets/*` only. */
export function createConsole(dir = consoleDir): (req: Req, res: Res, path: string) => boolean {
  const files = new Map<string, Buffer>();
  const read = (file: string) => {
    let bytes = files.get(file);
    if (!bytes) {
      bytes = readFileSync(join(dir, file));
      files.set(file, bytes);
    }
    return bytes;
  };
  return (req, res, path) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path === "/" || path === "/index.html") {
      if (!existsSync(join(dir, "index.html"))) {
        send(res, {
          status: 503,
          headers: { ...pageHeaders, "content-type": "text/plain; charset=utf-8" },
          body: "The console is not built: run `npm run build` (npm install runs it).\n",
        });
        return true;
      }
      send(res, { status: 200, headers: pageHeaders, body: read("index.html") });
      return true;
    }
    const asset = /^\/assets\/([\w.-]+)$/.exec(path)?.[1];
    const type = asset && types[extname(asset)];
    if (!asset || !type || !existsSync(join(dir, "assets", asset))) return false;
    send(res, {
      status: 200,
      headers: {
        "content-type": type,
        "cache-control": "public, max-age=31536000, immutable", // the name changes with the content
        "x-content-type-options": "nosniff",
      },
      body: read(join("assets", asset)),
    });
    return true;
  };
}
