/** The jobs capability: JobService (submit, get, list, cancel, watch) with its outbox relay and webhooks. */
import { JobService } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { defineCapability } from "#capability/index.js";

export default defineCapability({
  name: "jobs",
  services: [JobService],
  jobs: false,
  async create(context) {
    const { createJobsProcess } = await import("./process.js");
    return createJobsProcess(context);
  },
  deploy: { summary: "JobService: stateless (PostgreSQL and JetStream hold the state), scaled by CPU." },
});
