/**
 * The web console in Debian's Chromium (playwright-core) against the real mesh: sign-in (a wrong
 * key refused, the identity shown), calls through forms generated from the descriptors (a hash,
 * two dropped PDFs merged and the result downloaded, an image read by OCR), a field violation on
 * its field, a form left invalid refused in the browser, a CSV batch followed live, a key created,
 * used and revoked, usage charted, the quota left counted down, jobs paged and filtered by time, a
 * failed job retried, a file past the inline limit sent through the blob store and one past the
 * store's limit refused, an expired token's session ended, a watch resumed across a gateway
 * restart, an answer holding HTML shown as text, a strict CSP, the initial JavaScript within its
 * budget, no serious or critical axe violations. Screenshots of each screen go to
 * test-results/console/.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { AxeBuilder } from "@axe-core/playwright";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleDir } from "../../gateway/transports/console.js";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { PDFDocument } from "pdf-lib";
import sharp from "sharp";
import { textPage } from "../../services/ocr/test/helpers.js";
import { AdminService } from "../../gen/flowforge/admin/v1/admin_pb.js";
import { Tier } from "../../gen/flowforge/common/v1/common_pb.js";
import {
  HashAlgorithm,
  HashPasswordRequestSchema,
  HashRequestSchema,
} from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import { connectClient } from "../support/clients.js";
import { pack } from "../support/jobs.js";
import { type Mesh, root, startMesh } from "../support/mesh.js";

const shots = join(root, "test-results/console");
let mesh: Mesh;
let browser: Browser;

const blobLimit = 6_000_000;
let signingKey: CryptoKey;
let publicJwk: JWK;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  const pair = await generateKeyPair("ES256", { extractable: true });
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  [mesh, browser] = await Promise.all([
    // Every capability; JWTs signed by `signingKey` accepted; files over 6 MB refused by the blob store.
    startMesh({
      JWT_KEYS: JSON.stringify({ keys: [publicJwk] }),
      JWT_ISSUER: "https://idp.example",
      JWT_AUDIENCE: "flowforge",
      BLOB_MAX_BYTES: String(blobLimit),
    }),
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

/** Reloads until the session has ended: back at sign-in, saying why, the key gone from session storage. */
async function sessionEnds(page: Page) {
  await expect
    .poll(
      async () => {
        await page.reload();
        return page
          .getByRole("alert")
          .textContent({ timeout: 2000 })
          .catch(() => "");
      },
      { timeout: 30_000 },
    )
    .toMatch(/revoked or has expired/);
  expect(await page.evaluate(() => sessionStorage.getItem("flowforge.apiKey"))).toBeNull();
}

/** PdfService.Merge with two empty document drops (whatever its example prefilled removed). */
async function mergeForm(page: Page) {
  await openMethod(page, "flowforge.pdf.v1.PdfService", "Merge");
  const documents = page.locator('[data-field="documents"]');
  while ((await documents.getByRole("button", { name: /^Remove/ }).count()) > 0)
    await documents
      .getByRole("button", { name: /^Remove/ })
      .first()
      .click();
  await documents.getByRole("button", { name: "Add documents" }).click();
  await documents.getByRole("button", { name: "Add documents" }).click();
  return documents;
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

  it("refuses a form left invalid in the browser, naming the field, and sends nothing", async () => {
    const { page } = await open();
    const sent: string[] = [];
    page.on("request", (req) => {
      if (req.url().includes("/flowforge.jobs.v1.JobService/")) sent.push(req.url());
    });
    await signIn(page, mesh.adminKey);
    await page.goto(`${mesh.url}/#/playground/flowforge.jobs.v1.JobService/WatchJob`);
    await page.getByRole("heading", { name: "JobService.WatchJob" }).waitFor();
    await page.locator('[data-field="job_id"] input').fill("9b2f0c1e-0000-4000-8000-000000000000");
    await page.locator('[data-field="after_sequence"] input').fill("not a number");
    await page.getByRole("button", { name: "Start stream" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/after_sequence/);
    expect(sent).toEqual([]);
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
    await sessionEnds(holder);
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
    const pdf = async (pages: number) => {
      const doc = await PDFDocument.create();
      for (let i = 0; i < pages; i++) doc.addPage([200, 200]).drawText(`page ${i + 1}`, { x: 20, y: 100 });
      return Buffer.from(await doc.save());
    };
    const documents = await mergeForm(page);
    const drops = documents.locator('input[type="file"]');
    await drops.nth(0).setInputFiles({ name: "two.pdf", mimeType: "application/pdf", buffer: await pdf(2) });
    await drops.nth(1).setInputFiles({ name: "three.pdf", mimeType: "application/pdf", buffer: await pdf(3) });
    await expect.poll(() => documents.getByRole("status").count()).toBe(2);
    expect(await documents.locator("iframe.preview").count()).toBe(2); // each dropped PDF previewed
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
  it("shows what is left of the quota, counting down as calls are made", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const { secret } = await admin.createApiKey({ tenantId: "t-quota", tier: Tier.FREE, scopes: ["*"] });
    const { page, problems } = await open();
    await signIn(page, secret);
    const quota = page.locator("[data-quota]");
    const dayLeft = async () =>
      Number(/([\d,]+) of 1,000 this day/.exec((await quota.textContent()) ?? "")?.[1].replace(/,/g, ""));
    await expect.poll(dayLeft).toBeGreaterThan(0);
    expect(await quota.textContent()).toMatch(/of 100 this minute/);
    const before = await dayLeft();
    await openMethod(page, "flowforge.crypto.v1.CryptoService", "Hash");
    await page.locator('[data-field="text"] textarea').fill("counted");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.getByRole("region", { name: "Answer" }).waitFor();
    await expect.poll(dayLeft).toBe(before - 1);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("pages through jobs, filters them by time, and reads a Timestamp field from the date picker", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const { secret } = await admin.createApiKey({ tenantId: "t-paging", tier: Tier.PRO, scopes: ["jobs", "crypto"] });
    const jobs = connectClient(JobService, mesh.url, secret);
    const request = pack(HashRequestSchema, { algorithm: HashAlgorithm.MD5, input: { case: "text", value: "p" } });
    for (let i = 0; i < 53; i++) await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", request });
    const { page, problems } = await open();
    await signIn(page, secret);
    await page.goto(`${mesh.url}/#/jobs`);
    const rows = page.locator("table.jobs tbody tr");
    await expect.poll(() => rows.count()).toBe(50);
    const pages = page.getByRole("navigation", { name: "Pages of jobs" });
    await pages.getByRole("button", { name: "Next" }).click();
    await expect.poll(() => rows.count()).toBe(3);
    expect(await pages.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
    await pages.getByRole("button", { name: "Previous" }).click();
    await expect.poll(() => rows.count()).toBe(50);
    await page.getByLabel("Submitted from").fill("2099-01-01T00:00");
    await expect.poll(() => rows.count()).toBe(0);
    await page.getByText("No jobs match these filters").waitFor();
    await accessible(page);
    // The same filter through ListJobs' form: created_after from the date picker, as RFC 3339.
    await openMethod(page, "flowforge.jobs.v1.JobService", "ListJobs");
    const after = page.locator('[data-field="created_after"] input');
    expect(await after.getAttribute("type")).toBe("datetime-local");
    const answer = page.getByRole("region", { name: "Answer" });
    await after.fill("2099-01-01T00:00:00");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await answer.waitFor();
    await expect.poll(() => answer.locator("pre").textContent()).not.toContain('"id"');
    await after.fill("2000-01-01T00:00:00");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await expect.poll(() => answer.locator("pre").textContent()).toContain('"id"');
    expect(problems).toEqual([]);
    await page.context().close();
  }, 90_000);

  it("retries a finished job's failed items from its page: the new job names the items it retries", async () => {
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const bad = pack(HashRequestSchema, { input: { case: "text", value: "no algorithm" } });
    const good = pack(HashRequestSchema, { algorithm: HashAlgorithm.MD5, input: { case: "text", value: "g" } });
    const { job } = await jobs.submitJob({
      method: "flowforge.crypto.v1.CryptoService/Hash",
      items: [good, bad, good, bad],
    });
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    await page.goto(`${mesh.url}/#/jobs/${job!.id}`);
    const state = page.locator("dd[data-state]");
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 30_000 }).toBe("failed");
    await page.getByRole("button", { name: "Retry the 2 failed or cancelled items" }).click();
    await page.waitForURL((url) => /#\/jobs\/[\w-]+$/.test(url.hash) && !url.hash.endsWith(job!.id));
    await page.getByRole("link", { name: `job ${job!.id}` }).waitFor();
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 30_000 }).toBe("failed");
    await expect.poll(() => page.locator("tr[data-item]").count()).toBe(2);
    const retried = await page
      .locator("tr[data-item]")
      .evaluateAll((trs) => trs.map((tr) => tr.children[1].textContent));
    expect(retried).toEqual(["1", "3"]);
    expect(await page.locator('tr[data-item="1"]').textContent()).toContain("algorithm: is required");
    await page.screenshot({ path: join(shots, "job-retry.png"), fullPage: true });
    await accessible(page);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("uploads a file past the inline limit to the blob store, and says so when one is past the store's limit", async () => {
    const { page, problems } = await open();
    await signIn(page, mesh.adminKey);
    const documents = await mergeForm(page);
    // A one-page PDF of about 5 MB: a noise image stored without compression.
    const side = 1300;
    const noise = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const doc = await PDFDocument.create();
    const image = await doc.embedPng(noise);
    doc.addPage([side, side]).drawImage(image, { x: 0, y: 0 });
    const big = Buffer.from(await doc.save());
    expect(big.length).toBeGreaterThan(4 * 1024 * 1024);
    expect(big.length).toBeLessThan(blobLimit);
    const small = await PDFDocument.create();
    small.addPage([100, 100]);
    const drops = documents.locator('input[type="file"]');
    await drops.nth(0).setInputFiles({ name: "big.pdf", mimeType: "application/pdf", buffer: big });
    await drops
      .nth(1)
      .setInputFiles({ name: "small.pdf", mimeType: "application/pdf", buffer: Buffer.from(await small.save()) });
    const status = documents.getByRole("status");
    await expect
      .poll(() => status.nth(0).textContent(), { timeout: 30_000 })
      .toMatch(/big\.pdf: [\d,]+ bytes, blob \S+/);
    await expect.poll(() => status.nth(1).textContent()).toMatch(/sent inline/);
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const answer = page.getByRole("region", { name: "Answer" });
    await answer.waitFor({ timeout: 60_000 });
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      answer.getByRole("link", { name: /^Download/ }).click(),
    ]);
    expect((await PDFDocument.load(readFileSync(await download.path()))).getPageCount()).toBe(2);
    // Past the blob store's limit: refused, the reason shown on the field, nothing sent.
    await drops
      .nth(0)
      .setInputFiles({ name: "huge.pdf", mimeType: "application/pdf", buffer: randomBytes(blobLimit + 1) });
    await expect
      .poll(() => status.nth(0).textContent(), { timeout: 30_000 })
      .toMatch(/huge\.pdf: .*larger than the 6000000 bytes/);
    expect(problems.filter((p) => !/status of 400/.test(p))).toEqual([]);
    await page.context().close();
  }, 90_000);

  it("ends an expired token's session with a notice, back at sign-in", async () => {
    const expires = Math.floor(Date.now() / 1000) + 4;
    const jwt = await new SignJWT({ tenant: "t-jwt", tier: "pro", scope: "crypto jobs" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setSubject("user-7")
      .setIssuer("https://idp.example")
      .setAudience("flowforge")
      .setIssuedAt()
      .setExpirationTime(expires)
      .sign(signingKey);
    const { page } = await open();
    await signIn(page, jwt);
    await expect.poll(() => page.getByLabel("Signed in as").textContent()).toContain("t-jwt");
    // Once the token has expired (past the gateway's clock tolerance), the next call ends the session.
    await sessionEnds(page);
    expect(Date.now() / 1000).toBeGreaterThan(expires);
    await page.context().close();
  });

  // Last: it restarts the gateway.
  it("keeps watching a job through the gateway going away: the watch resumes after the last event seen", async () => {
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const slow = Array.from({ length: 40 }, () =>
      pack(HashPasswordRequestSchema, { password: "p", params: { memoryKib: 65_536, iterations: 3 } }),
    );
    const { page } = await open();
    const watches: bigint[] = [];
    page.on("request", (req) => {
      if (!req.url().endsWith("/flowforge.jobs.v1.JobService/WatchJob")) return;
      const body = req.postDataBuffer();
      // A Connect streaming request: one enveloped JSON message (5 bytes of flags and length first).
      if (body) watches.push(BigInt(JSON.parse(body.subarray(5).toString()).afterSequence ?? 0));
    });
    await signIn(page, mesh.adminKey);
    await expect.poll(() => page.getByLabel("Signed in as").textContent()).toContain("tenant");
    // Submitted once the page is ready, so that most items finish while it watches.
    const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/HashPassword", items: slow });
    const getJob = page.waitForResponse((res) => res.url().endsWith("/flowforge.jobs.v1.JobService/GetJob"));
    await page.goto(`${mesh.url}/#/jobs/${job!.id}`);
    const fetched = (await (await getJob).json()) as { job: { items?: { state?: string }[] } };
    const finishedWhenRead = (fetched.job.items ?? []).filter((i) => i.state === "ITEM_STATE_SUCCEEDED").length;
    // Items seen finishing over the watch: more than GetJob's answer listed (the page lists every item,
    // queued ones too, from GetJob), so the watch has delivered events before the gateway goes away.
    await expect
      .poll(() => page.locator("tr[data-item] td.state.succeeded").count(), { timeout: 30_000 })
      .toBeGreaterThan(finishedWhenRead + 2);
    const gateway = mesh.pidOf("gateway");
    process.kill(gateway, "SIGKILL");
    const state = page.locator("dd[data-state]");
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 90_000 }).toBe("succeeded");
    expect(mesh.pidOf("gateway")).not.toBe(gateway);
    expect(watches.length).toBeGreaterThan(1);
    expect(watches[0]).toBe(0n);
    expect(watches[watches.length - 1]).toBeGreaterThan(2n); // resumed after what it had seen
    await expect.poll(() => page.locator("tr[data-item]").count()).toBe(40);
    expect(
      await page
        .locator("tr[data-item]")
        .evaluateAll((trs) => trs.every((tr) => tr.textContent?.includes("succeeded"))),
    ).toBe(true);
    await page.context().close();
  }, 120_000);
});
