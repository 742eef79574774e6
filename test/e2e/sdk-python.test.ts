/**
 * The Python SDK as a user installs it: `pip install` of sdk/python into a fresh virtual
 * environment (Debian's grpcio and protobuf from the system's site packages; nothing downloaded),
 * then a program run outside the repository calls the real mesh: an answer, an error naming its
 * field, a refused key, an unreachable gateway, and a batch with a failing item.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, root, startMesh, type Mesh } from "../support/mesh.js";

const run = promisify(execFile);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

let mesh: Mesh;
let home: string;

const program = `
import json, sys
import flowforge
from flowforge import FlowForge, FlowForgeError, run, submit, wait
from flowforge.crypto.v1 import crypto_pb2
from flowforge.jobs.v1 import jobs_pb2

target, key, nobody = sys.argv[1:4]
out = {"module": flowforge.__file__, "version": flowforge.__version__}

def failure(call):
    try:
        call()
        return "no error"
    except FlowForgeError as err:
        return {"code": err.code.name, "violations": [[v.field, v.description] for v in err.violations], "request_id": bool(err.request_id)}

abc = crypto_pb2.HashRequest(algorithm=crypto_pb2.HASH_ALGORITHM_SHA256, text="abc")
with FlowForge(target, key) as ff:
    out["digest"] = ff.crypto.Hash(abc).digest
    out["missing"] = failure(lambda: ff.crypto.Hash(crypto_pb2.HashRequest(text="abc")))
    progress = []
    results = run(ff, "flowforge.crypto.v1.CryptoService/Hash", [abc, crypto_pb2.HashRequest(text="x")],
                  on_progress=lambda counts, state: progress.append(counts.succeeded + counts.failed))
    out["batch"] = [r.value.digest if r.ok else r.error.fields for r in results]
    out["progress"] = progress[-1]
    # Dicts in the JSON form, by method name; a value of the wrong type is refused naming the
    # field before anything is sent (request_id: none), in a call and in a batch's item.
    out["by_name"] = ff.call("CryptoService/Hash", {"algorithm": "HASH_ALGORITHM_SHA256", "text": "abc"}).digest
    out["wrong_type"] = failure(lambda: ff.call("flowforge.math.v1.MathService/Describe", {"values": [1, "a"]}))
    out["nested"] = failure(lambda: ff.call("TransformService/Convert", {"input": "a", "csv": {"delimiter": 5}}))
    out["item_type"] = failure(lambda: run(ff, "CryptoService/Hash", [{"text": "a"}, {"text": 5}]))
    dict_batch = run(ff, "CryptoService/Hash", [{"algorithm": "HASH_ALGORITHM_MD5", "text": "abc"}, {"text": "x"}])
    out["dict_batch"] = [r.value.digest if r.ok else r.error.fields for r in dict_batch]
    job = submit(ff, "CryptoService/Hash", [{"algorithm": "HASH_ALGORITHM_SHA1", "text": "abc"}])
    wait(ff, job.id)
    out["stream"] = [e.WhichOneof("event") for e in ff.call("JobService/WatchJob", {"jobId": job.id})]
# A job that outlasts the client's deadline for calls: waiting on it is a stream, which has none.
slow = [crypto_pb2.HashPasswordRequest(password="p", params=crypto_pb2.KdfParams(memory_kib=65536, iterations=3))] * 30
with FlowForge(target, key, timeout=0.5) as quick:
    job = submit(quick, "CryptoService/HashPassword", slow)
    out["outlasts"] = jobs_pb2.JobState.Name(wait(quick, job.id).state)
out["wrong_key"] = failure(lambda: FlowForge(target, "ffk_wrong").crypto.Hash(abc))
out["unreachable"] = failure(lambda: FlowForge(nobody, key, timeout=10).crypto.Hash(abc))
print(json.dumps(out))
`;

beforeAll(async () => {
  mesh = await startMesh();
  home = mkdtempSync(join(tmpdir(), "flowforge-sdk-python-"));
  // A copy, so the build leaves nothing behind in the checkout.
  cpSync(join(root, "sdk/python"), join(home, "sdk"), { recursive: true, filter: (p) => !p.includes("__pycache__") });
  await run("/usr/bin/python3", ["-m", "venv", "--system-site-packages", join(home, "venv")], { timeout: 120_000 });
  await run(
    join(home, "venv/bin/pip"),
    ["install", "--no-index", "--no-build-isolation", "--disable-pip-version-check", "--quiet", join(home, "sdk")],
    { cwd: home, timeout: 180_000 },
  );
  writeFileSync(join(home, "program.py"), program);
}, 300_000);

afterAll(async () => {
  await mesh?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("the Python SDK, installed into a fresh virtual environment", () => {
  it("calls the mesh: answers, errors naming the field, refused keys, an unreachable gateway, a batch", async () => {
    const nobody = `127.0.0.1:${await freePort()}`;
    const { stdout } = await run(
      join(home, "venv/bin/python"),
      [join(home, "program.py"), `127.0.0.1:${new URL(mesh.url).port}`, mesh.adminKey, nobody],
      {
        cwd: home,
        timeout: 120_000,
      },
    );
    const out = JSON.parse(stdout);
    // Imported from the environment, not the checkout; its version follows the contracts'.
    expect(out.module.startsWith(join(home, "venv"))).toBe(true);
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
    expect(out.version).toBe(version);
    expect(readFileSync(join(root, "sdk/python/pyproject.toml"), "utf8")).toContain(`\nversion = "${version}"\n`);
    expect(out.digest).toBe(sha256("abc"));
    expect(out.missing).toEqual({
      code: "INVALID_ARGUMENT",
      violations: [["algorithm", "is required"]],
      request_id: true,
    });
    expect(out.batch).toEqual([sha256("abc"), ["algorithm"]]);
    expect(out.progress).toBe(2);
    expect(out.by_name).toBe(sha256("abc"));
    expect(out.wrong_type).toEqual({
      code: "INVALID_ARGUMENT",
      violations: [["values[1]", "Couldn't parse float: a"]],
      request_id: false,
    });
    expect(out.nested.violations.map((v: string[]) => v[0])).toEqual(["csv.delimiter"]);
    expect(out.item_type.violations.map((v: string[]) => v[0])).toEqual(["items[1].text"]);
    expect(out.dict_batch).toEqual([createHash("md5").update("abc").digest("hex"), ["algorithm"]]);
    expect(out.stream[0]).toBe("state_changed");
    expect(out.stream).toContain("item_finished");
    expect(out.outlasts).toBe("JOB_STATE_SUCCEEDED");
    expect(out.wrong_key.code).toBe("UNAUTHENTICATED");
    expect(out.unreachable.code).toBe("UNAVAILABLE");
  });
});
