/**
 * HTML printed to PDF by headless Chromium (Debian's chromium package) through playwright-core:
 * one browser, started on first use and kept, a fresh page a call with scripts off, and every
 * request but `data:` URLs refused, so a page cannot reach the network or the disk. Calls are
 * bounded in number at once and in time.
 */
import { existsSync } from "node:fs";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { type Browser, chromium } from "playwright-core";
import { createBulkhead } from "#runtime/bulkhead.js";
import { invalidArgument } from "#runtime/errors.js";

/** How a page is printed. */
export interface Print {
  format: "A4" | "Letter";
  landscape: boolean;
  printBackground: boolean;
}

/** The printer; `close` ends the browser. */
export function createChromium(executable = "/usr/bin/chromium", o: { concurrency?: number; timeoutMs?: number } = {}) {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const pool = createBulkhead({ name: "chromium", concurrency: o.concurrency ?? 2, maxWaiting: 1000 });
  let browser: Promise<Browser> | undefined;

  const launch = () =>
    chromium.launch({
      executablePath: executable,
      headless: true,
      // What this machine's Chromium needs to start quietly and offline (../shared/FACTS.md).
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });

  return {
    available: () => existsSync(executable),
    async print(html: string, p: Print, ctx: HandlerContext): Promise<Uint8Array> {
      if (!existsSync(executable))
        throw new ConnectError(
          "this needs Chromium, which is not installed here (Debian's chromium package)",
          Code.FailedPrecondition,
        );
      return pool.run(ctx, async () => {
        browser ??= launch().catch((err) => {
          browser = undefined;
          throw err;
        });
        const context = await (await browser).newContext({ javaScriptEnabled: false, offline: true });
        // Printing has no time limit of its own: a page that will not print is closed under it.
        const stop = setTimeout(() => void context.close().catch(() => {}), 2 * timeoutMs);
        try {
          const page = await context.newPage();
          await page.route("**/*", (route) =>
            route.request().url().startsWith("data:") ? route.continue() : route.abort("blockedbyclient"),
          );
          await page.setContent(html, { waitUntil: "load", timeout: timeoutMs }).catch((err) => {
            throw invalidArgument("html", `did not finish loading in ${timeoutMs / 1000} s`, err);
          });
          const pdf = await page.pdf(p).catch((err) => {
            throw invalidArgument("html", "could not be printed in time", err);
          });
          return new Uint8Array(pdf.buffer, pdf.byteOffset, pdf.byteLength);
        } finally {
          clearTimeout(stop);
          await context.close().catch(() => {});
        }
      });
    },
    async close() {
      const b = await browser?.catch(() => undefined);
      await b?.close().catch(() => {});
    },
  };
}
