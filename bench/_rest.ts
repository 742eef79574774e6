import { writeFile } from "node:fs/promises";
import { startMesh } from "#test/support/mesh.js";
import { h2load } from "./h2load.js";
const mesh = await startMesh({ LOG_LEVEL: "warn" });
const text = "x".repeat(58);
await writeFile("/tmp/j.json", JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text }));
await writeFile("/tmp/r.json", JSON.stringify({ algorithm: "sha256", text }));
const h = { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` };
try {
  for (let i = 0; i < 2; i++) {
    const c = await h2load({
      url: `${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`,
      bodyFile: "/tmp/j.json",
      headers: h,
      clients: 4,
      streams: 25,
      seconds: 5,
    });
    const r = await h2load({
      url: `${mesh.url}/api/v1/crypto/hash`,
      bodyFile: "/tmp/r.json",
      headers: h,
      clients: 4,
      streams: 25,
      seconds: 5,
    });
    console.log({
      connect: Math.round(c.reqPerSec),
      rest: Math.round(r.reqPerSec),
      ratio: (r.reqPerSec / c.reqPerSec).toFixed(2),
      failed: c.failed + r.failed,
    });
  }
} finally {
  await mesh.stop();
}
