// Runs a batch through the gateway with the TypeScript SDK, watching it to its end.
// Usage: node --import tsx sdk/typescript/examples/watch-job.ts <gateway-url> <api-key>
import { createNodeFlowForge, outcomes, services } from "@flowforge/sdk/node";
import { HashAlgorithm } from "@flowforge/sdk/gen/flowforge/crypto/v1/crypto_pb.js";
import { JobState } from "@flowforge/sdk/gen/flowforge/jobs/v1/jobs_pb.js";

const [baseUrl, apiKey] = process.argv.slice(2);
const ff = createNodeFlowForge({ baseUrl, apiKey });
const hash = services.crypto.method.hash;

const texts = ["abc", "flowforge"];
const job = await ff.batches.submit(
  hash,
  texts.map((text) => ({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: text } })),
);
for await (const event of ff.batches.watch(job.id))
  if (event.event.case === "stateChanged") console.log(JobState[event.event.value.state]);

for (const outcome of outcomes(hash, await ff.batches.get(job.id)))
  console.log(texts[outcome.index], outcome.ok ? outcome.value.digest : outcome.error.message);
