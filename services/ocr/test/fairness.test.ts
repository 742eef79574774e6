/**
 * OCR's page pool is fair as the runtime's bulkheads are: job items never hold its last slot, so a
 * unary Recognize starts at once while a batch fills the rest. The engine here is a stand-in for
 * the native program (a script that records each read's languages and waits for the test to let
 * it finish), so which reads run at once is seen, not timed.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createContextValues, type HandlerContext } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Engine, RecognizeRequestSchema } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { tenantKey } from "#runtime/context.js";
import { createOcrService } from "../service.js";
import { until } from "#test/support/until.js";
import { textPage } from "./helpers.js";

let dir: string;
let program: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ff-ocr-fair-"));
  program = join(dir, "tesseract");
  // Answers --version and --list-langs; a read logs its -l value, then waits for the gate file.
  await writeFile(
    program,
    `#!/bin/sh
case "$1" in
  --version) echo "tesseract 5.3.0"; exit 0 ;;
  --list-langs) printf 'List of available languages (2):\\neng\\ndeu\\n'; exit 0 ;;
esac
out="$2"; shift 2
while [ "$1" != "-l" ]; do shift; done
echo "$2" >> "${dir}/started"
while [ ! -e "${dir}/open" ]; do sleep 0.02; done
echo "read" > "$out.txt"
printf 'level\\tpage_num\\tblock_num\\tpar_num\\tline_num\\tword_num\\tleft\\ttop\\twidth\\theight\\tconf\\ttext\\n' > "$out.tsv"
`,
  );
  await chmod(program, 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const context = (kind: "unary" | "job", tenant: string): HandlerContext =>
  ({
    protocolName: kind === "job" ? "job" : "connect",
    signal: new AbortController().signal,
    values: createContextValues().set(tenantKey, tenant),
    requestHeader: new Headers(),
  }) as unknown as HandlerContext;

const started = async () =>
  existsSync(join(dir, "started")) ? (await readFile(join(dir, "started"), "utf8")).trim().split("\n") : [];

describe("OCR page pool", () => {
  it("job items never hold the last slot: a unary read starts while a batch's items wait", async () => {
    const { impl, close } = createOcrService({ concurrency: 2, tesseractProgram: program, defaultEngine: "tesseract" });
    try {
      const page = await textPage(["one page"]);
      const req = (language: string) =>
        create(RecognizeRequestSchema, {
          image: { source: { case: "data", value: page } },
          engine: Engine.TESSERACT,
          languages: [language],
        });
      // Tenant a's batch: three pages (English); then tenant b's unary call (German).
      const items = [1, 2, 3].map(() => impl.recognize!(req("eng"), context("job", "a")));
      const seen = async () => `started: ${await started()}`;
      await until(async () => (await started()).length === 1, 20_000, seen);
      const unary = impl.recognize!(req("deu"), context("unary", "b"));
      await until(async () => (await started()).length === 2, 20_000, seen);
      // The second slot went to the unary call, not to the batch's second page.
      expect(await started()).toEqual(["eng", "deu"]);
      await writeFile(join(dir, "open"), "");
      const answers = await Promise.all([unary, ...items]);
      expect(answers.map((a) => (a as { text: string }).text.trim())).toEqual(["read", "read", "read", "read"]);
      expect(await started()).toEqual(["eng", "deu", "eng", "eng"]);
    } finally {
      await close();
    }
  });
});
