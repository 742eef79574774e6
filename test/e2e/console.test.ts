/**
 * The web console in Debian's Chromium (playwright-core) against the real mesh: sign-in (a wrong
 * key refused, the identity shown), a call through a form generated from the descriptors, a field
 * violation shown on its field, an answer holding HTML shown as text, a strict CSP, the initial
 * JavaScript within its budget, no serious or critical axe violations. Screenshots of each screen
 * go to test-results/console/.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { AxeBuilder } from "@axe-core/playwright";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleDir } from "../../gateway/transports/console.js";
import { type Mesh, root, startMesh } from "../support/mesh.js";

const shots = join(root, "test-results/console");
let mesh: Mesh;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  [mesh, browser] = await Promise.all([
    startMesh({ FLOWFORGE_CAPABILITIES: "crypto,transform" }),
    chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    }),
  ]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
});

/** A new page, its console errors and CSP violations collected. */
async function open(): Promise<{ page: Page; problems: string[] }> {
  const page = await (await browser.newContext()).newPage(); // a context of its own: its own session storage
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(mesh.url);
  return { page, problems };
}

async function signIn(page: Page, key: string) {
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** axe-core on the page: no serious or critical violations. */
async function accessible(page: Page) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

describe("the web console", () => {
  it("is served at / under a strict CSP, its hashed assets cached for good, its initial JavaScript within 300 KB gzip", async () => {
    const page = await fetch(`${mesh.url}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const scripts = [...html.matchAll(/<script[^>]*src="\/assets\/([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    const asset = await fetch(`${mesh.url}/assets/${scripts[0]}`);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    // What index.html loads before anything else: its scripts and the modules they preload.
    const initial = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
    const gzipped = initial.reduce((sum, f) => sum + gzipSync(readFileSync(join(consoleDir, "assets", f))).length, 0);
    expect(gzipped).toBeLessThanOrEqual(300 * 1024);
    expect(readdirSync(join(consoleDir, "assets")).every((f) => /-[\w-]{8,}\.\w+$/.test(f))).toBe(true);
  });

  it("refuses a wrong key and signs in with a good one, showing the identity", async () => {
    const { page, problems } = await open();
    await page.screenshot({ path: join(shots, "sign-in.png") });
    await accessible(page);
    await signIn(page, "ffk_not_a_key");
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/not valid/);
    problems.length = 0; // the browser logs the refused call's 401 itself
    await signIn(page, mesh.adminKey);
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await expect.poll(() => page.getByLabel("Signed in as").textContent()).toMatch(/tenant/);
    // The key is in session storage, not in the address.
    expect(page.url()).not.toContain(mesh.adminKey);
    expect(await page.evaluate(() => sessionStorage.getItem("flowforge.apiKey"))).toBe(mesh.adminKey);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("calls a method through the form built from its descriptor, prefilled from its example", async () => {
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    await page.goto(`${mesh.url}/#/playground/flowforge.crypto.v1.CryptoService/Hash`);
    await page.getByRole("heading", { name: "CryptoService.Hash" }).waitFor();
    const algorithm = page.locator('[data-field="algorithm"] select');
    await expect.poll(() => algorithm.inputValue()).toBe("HASH_ALGORITHM_SHA256"); // from the Example: line
    await page.locator('[data-field="text"] textarea').fill("abc");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const answer = page.getByRole("region", { name: "Answer" });
    await answer.waitFor();
    expect(await answer.textContent()).toContain(createHash("sha256").update("abc").digest("hex"));
    expect(await answer.textContent()).toMatch(/request id/);
    await page.screenshot({ path: join(shots, "playground-answer.png"), fullPage: true });
    await accessible(page);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("shows a field violation on its field", async () => {
    const { page } = await open();
    await signIn(page, mesh.adminKey);
    await page.goto(`${mesh.url}/#/playground/flowforge.crypto.v1.CryptoService/Hash`);
    const algorithm = page.locator('[data-field="algorithm"] select');
    await expect.poll(() => algorithm.inputValue()).toBe("HASH_ALGORITHM_SHA256");
    await algorithm.selectOption("");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").textContent()).toMatch(/InvalidArgument/);
    const field = page.locator('[data-field="algorithm"]');
    await expect.poll(() => field.getAttribute("class")).toContain("invalid");
    expect(await field.locator(".violations").textContent()).toMatch(/\S/);
    await page.screenshot({ path: join(shots, "playground-violation.png"), fullPage: true });
    await accessible(page);
    await page.context().close();
  });

  it("shows HTML and script in an answer as text, never running them", async () => {
    const { page } = await open();
    await signIn(page, mesh.adminKey);
    await page.goto(`${mesh.url}/#/playground/flowforge.transform.v1.TransformService/Convert`);
    await page.getByRole("heading", { name: "TransformService.Convert" }).waitFor();
    const hostile = '<img src=x onerror="window.__ran=1"><script>window.__ran=2</script>';
    await page.locator('[data-field="input"] textarea').fill(`a\n"${hostile.replaceAll('"', '""')}"\n`);
    await page.locator('[data-field="from"] select').selectOption("DATA_FORMAT_CSV");
    await page.locator('[data-field="to"] select').selectOption("DATA_FORMAT_JSON");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const answer = page.getByRole("region", { name: "Answer" });
    await answer.waitFor();
    expect(await answer.textContent()).toContain("<script>window.__ran=2</script>");
    expect(await answer.locator("img, script").count()).toBe(0);
    expect(await page.evaluate(() => (window as { __ran?: number }).__ran)).toBeUndefined();
    await page.context().close();
  });
});
