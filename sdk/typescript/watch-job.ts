// Submits a batch through the gateway and watches it with the generated TypeScript client.
// Usage: node --import tsx sdk/typescript/watch-job.ts <gateway-url> <api-key>
import { create, createRegistry } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  HashAlgorithm,
  HashRequestSchema,
  HashResponseSchema,
  file_flowforge_crypto_v1_crypto,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";

const [baseUrl, apiKey] = process.argv.slice(2);
const transport = createConnectTransport({
  baseUrl,
  httpVersion: "1.1",
  jsonOptions: { registry: createRegistry(file_flowforge_crypto_v1_crypto) },
  interceptors: [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${apiKey}`);
      return next(req);
    },
  ],
});
const jobs = createClient(JobService, transport);

const texts = ["abc", "flowforge"];
const { job } = await jobs.submitJob({
  method: "flowforge.crypto.v1.CryptoService/Hash",
  items: texts.map((text) =>
    anyPack(
      HashRequestSchema,
      create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: text } }),
    ),
  ),
});

const digests: string[] = [];
for await (const event of jobs.watchJob({ jobId: job!.id })) {
  if (event.event.case === "stateChanged") console.log(JobState[event.event.value.state]);
  if (event.event.case === "itemFinished") {
    const item = event.event.value.item!;
    digests[item.index] = anyUnpack(item.result!, HashResponseSchema)!.digest;
  }
}
for (const [i, text] of texts.entries()) console.log(text, digests[i]);
