/**
 * Serves one capability (services/main.ts, the entry point, runs this): `services/main.ts <name>`
 * (or `CAPABILITY=<name>`). It builds the capability declared in `services/<name>/capability.ts`
 * and serves it (see lib/runtime/run.ts for the environment it reads).
 */
import { capabilityNames, isCapabilityName, loadCapability, selectCapabilities } from "./select.js";
import { runService } from "#runtime/run.js";
import { createLogger } from "#runtime/logger.js";
import { serviceConfig } from "#config/index.js";
import { settingsOf } from "#capability/index.js";

const name = process.argv[2] ?? process.env.CAPABILITY ?? "";
if (!isCapabilityName(name)) {
  process.stderr.write(`usage: services/main.ts <capability>; known: ${capabilityNames.join(", ")} (got "${name}")\n`);
  process.exit(2);
}
// Only this capability's declaration (and generated code) is loaded.
const capability = await loadCapability[name]();
const config = serviceConfig();
const instance = await capability.create({
  logger: createLogger({ name }),
  env: process.env,
  settings: settingsOf(capability, process.env),
  config,
  // The deployment's capabilities (FLOWFORGE_CAPABILITIES, every one by default), loaded when asked.
  capabilities: () =>
    Promise.all(selectCapabilities(process.env.FLOWFORGE_CAPABILITIES).map((n) => loadCapability[n]())),
});
await runService({
  name,
  services: instance.services,
  jobWorkers: capability.jobs !== false,
  onStop: instance.stop,
  config,
});
