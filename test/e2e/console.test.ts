/**
 * The web console in Debian's Chromium (playwright-core) against the real mesh: sign-in (a wrong
 * key refused, the identity shown), calls through forms generated from the descriptors (a hash,
 * two dropped PDFs merged and the result downloaded, an image read by OCR), a field violation on
 * its field, a CSV batch followed live, a key created, used and revoked, usage charted, an answer
 * holding HTML shown as text, a strict CSP, the initial JavaScript within its budget, no serious
 * or critical axe violations. Screenshots of each screen go to test-results/console/.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { AxeBuilder } from "@axe-core/playwright";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleDir } from "../../gateway/transports/console.js";
import { PDFDocument } from "pdf-lib";
import sharp from "sharp";
import { textPage } from "../../services/ocr/test/helpers.js";
import { type Mesh, root, startMesh } from "../support/mesh.js";

const shots = join(root, "test-results/console");
let mesh: Mesh;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  [mesh, browser] = await Promise.all([
    startMesh({}), // every capability
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

/** Opens a method in the playground, once its reference (help text, example) has loaded. */
async function openMethod(page: Page, service: string, method: string) {
  await page.goto(`${mesh.url}/#/playground/${service}/${method}`);
  await page.getByRole("heading", { name: `${service.split(".").pop()}.${method}` }).waitFor();
  await page.locator("p.description").waitFor();
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
    await openMethod(page, "flowforge.crypto.v1.CryptoService", "Hash");
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
    await openMethod(page, "flowforge.crypto.v1.CryptoService", "Hash");
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

  it("sends a batch from a CSV file and follows the job live to its end, then lists it", async () => {
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    await openMethod(page, "flowforge.crypto.v1.CryptoService", "Hash");
    const rows = Array.from({ length: 25 }, (_, i) => `sha256,"row ${i}, quoted"`);
    await page.getByLabel("Send a batch from a CSV or JSON file").setInputFiles({
      name: "batch.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`algorithm,text\n${rows.join("\n")}\n`),
    });
    await page.waitForURL(/#\/jobs\/[\w-]+$/);
    const state = page.locator("dd[data-state]");
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 60_000 }).toBe("succeeded");
    await expect.poll(() => page.locator("tr[data-item]").count()).toBe(25);
    const seventh = await page.locator('tr[data-item="7"]').textContent();
    expect(seventh).toContain(createHash("sha256").update("row 7, quoted").digest("hex"));
    await page.screenshot({ path: join(shots, "job.png"), fullPage: true });
    await accessible(page);
    const jobId = /#\/jobs\/([\w-]+)$/.exec(page.url())![1];
    await page.goto(`${mesh.url}/#/jobs`);
    await page.getByRole("link", { name: jobId }).waitFor();
    await page.screenshot({ path: join(shots, "jobs.png"), fullPage: true });
    await accessible(page);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("names the row and field of a batch file that does not fit the request", async () => {
    const { page } = await open();
    await signIn(page, mesh.adminKey);
    await openMethod(page, "flowforge.crypto.v1.CryptoService", "Hash");
    await page.getByLabel("Send a batch from a CSV or JSON file").setInputFiles({
      name: "bad.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("algorithm,colour\nsha256,blue\n"),
    });
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/bad\.csv: column "colour" names no field/);
    expect(page.url()).toContain("#/playground/"); // nothing was submitted
    await page.context().close();
  });

  it("creates a key (secret shown once), whose holder signs in, then revokes it: that session ends", async () => {
    const { page: admin } = await open();
    admin.on("dialog", (d) => void d.accept());
    await signIn(admin, mesh.adminKey);
    await admin.getByRole("link", { name: "Keys" }).click();
    await admin.getByRole("heading", { name: "API keys" }).waitFor();
    await admin.getByLabel("Tenant").fill("t-console");
    await admin.getByLabel("Name").fill("console key");
    await admin.getByRole("button", { name: "Create" }).click();
    const secret = (await admin.getByLabel("The new key's secret").textContent())?.trim() ?? "";
    expect(secret).toMatch(/^ffk_/);
    await admin.screenshot({ path: join(shots, "keys.png"), fullPage: true });
    await accessible(admin);

    const { page: holder } = await open();
    await signIn(holder, secret);
    await expect.poll(() => holder.getByLabel("Signed in as").textContent()).toContain("t-console");

    const row = admin.locator("tr", { hasText: "console key" });
    await row.getByRole("button", { name: /Revoke/ }).click();
    await expect.poll(() => row.count()).toBe(0); // gone from the keys in force
    await admin.getByLabel("Show revoked keys").check();
    await expect.poll(() => row.locator("td").nth(6).textContent()).toMatch(/\d/); // listed, with when it was revoked
    // The holder's next call is refused and the console says why, back at sign-in.
    await expect
      .poll(
        async () => {
          await holder.reload();
          return holder
            .getByRole("alert")
            .textContent({ timeout: 2000 })
            .catch(() => "");
        },
        { timeout: 30_000 },
      )
      .toMatch(/revoked or has expired/);
    expect(await holder.evaluate(() => sessionStorage.getItem("flowforge.apiKey"))).toBeNull();
    await admin.context().close();
    await holder.context().close();
  }, 90_000);

  it("charts the tenant's usage from what was metered", async () => {
    const hashed = await fetch(`${mesh.url}/api/v1/crypto/hash`, {
      method: "POST",
      headers: { authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ algorithm: "sha256", text: "metered" }),
    });
    expect(hashed.status).toBe(200);
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    await page.getByRole("link", { name: "Usage" }).click();
    await page.getByRole("heading", { name: "Usage" }).waitFor();
    // Calls made above (hashes through the console) are metered in batches: wait for them.
    await expect
      .poll(
        async () => {
          await page.reload();
          return Number(
            (
              await page
                .locator('tr[data-method="flowforge.crypto.v1.CryptoService/Hash"] td.calls')
                .first()
                .textContent({ timeout: 2000 })
                .catch(() => "0")
            )?.replace(/\D/g, ""),
          );
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    await page.locator("canvas").waitFor();
    await page.screenshot({ path: join(shots, "usage.png"), fullPage: true });
    await accessible(page);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("merges two PDFs dropped on the form; the answer's PDF downloads whole", async () => {
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    await openMethod(page, "flowforge.pdf.v1.PdfService", "Merge");
    const pdf = async (pages: number) => {
      const doc = await PDFDocument.create();
      for (let i = 0; i < pages; i++) doc.addPage([200, 200]).drawText(`page ${i + 1}`, { x: 20, y: 100 });
      return Buffer.from(await doc.save());
    };
    const documents = page.locator('[data-field="documents"]');
    // The example may have prefilled items: start from none.
    while ((await documents.getByRole("button", { name: /^Remove/ }).count()) > 0)
      await documents
        .getByRole("button", { name: /^Remove/ })
        .first()
        .click();
    await documents.getByRole("button", { name: "Add documents" }).click();
    await documents.getByRole("button", { name: "Add documents" }).click();
    const drops = documents.locator('input[type="file"]');
    await drops.nth(0).setInputFiles({ name: "two.pdf", mimeType: "application/pdf", buffer: await pdf(2) });
    await drops.nth(1).setInputFiles({ name: "three.pdf", mimeType: "application/pdf", buffer: await pdf(3) });
    await expect.poll(() => documents.getByRole("status").count()).toBe(2);
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const answer = page.getByRole("region", { name: "Answer" });
    await answer.waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      answer.getByRole("link", { name: /^Download/ }).click(),
    ]);
    const merged = await PDFDocument.load(readFileSync(await download.path()));
    expect(merged.getPageCount()).toBe(5);
    await page.screenshot({ path: join(shots, "playground-pdf.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("reads an image dropped on the OCR form", async () => {
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    await openMethod(page, "flowforge.ocr.v1.OcrService", "Recognize");
    await page
      .locator('[data-field="image"] input[type="file"]')
      .setInputFiles({ name: "scan.png", mimeType: "image/png", buffer: await textPage(["Console reads this"]) });
    await page.locator('[data-field="image"]').getByRole("status").waitFor();
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const answer = page.getByRole("region", { name: "Answer" });
    await answer.waitFor({ timeout: 60_000 });
    expect(await answer.locator("pre").textContent()).toMatch(/Console reads this/);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("answers math, image, vector and LLM calls through their forms", async () => {
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    const send = () => page.getByRole("button", { name: "Send", exact: true }).click();
    const answer = page.getByRole("region", { name: "Answer" });

    await openMethod(page, "flowforge.math.v1.MathService", "Evaluate"); // prefilled: sqrt(16) + x, x = 1
    await send();
    await expect.poll(() => answer.locator("pre").textContent()).toMatch(/"text": "5"/);

    await openMethod(page, "flowforge.image.v1.ImageService", "GetMetadata");
    const png = await sharp({ create: { width: 7, height: 5, channels: 3, background: "#0a0" } })
      .png()
      .toBuffer();
    await page
      .locator('[data-field="image"] input[type="file"]')
      .setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: png });
    await page.locator('[data-field="image"]').getByRole("status").waitFor();
    await send();
    await expect.poll(() => answer.locator("pre").textContent()).toMatch(/"width": 7,\s+"height": 5/);
    await page.screenshot({ path: join(shots, "playground-image.png"), fullPage: true });

    await openMethod(page, "flowforge.vector.v1.VectorService", "CreateCollection"); // prefilled: docs, 3, cosine
    await send();
    await expect.poll(() => answer.locator("pre").textContent()).toContain('"name": "docs"');

    expect(problems).toEqual([]);
    // No model provider in this mesh: the error says what to set (the browser logs its status).
    await openMethod(page, "flowforge.llm.v1.LlmService", "Chat");
    await send();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/FailedPrecondition/);
    await page.context().close();
  });

  it("shows HTML and script in an answer as text, never running them", async () => {
    const { page } = await open();
    await signIn(page, mesh.adminKey);
    await openMethod(page, "flowforge.transform.v1.TransformService", "Convert");
    await expect.poll(() => page.locator('[data-field="from"] select').inputValue()).not.toBe(""); // the example is in
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
