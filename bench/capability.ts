/** A capability's own process beside a bench's mesh, for calls that skip the gateway. */
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { freePort, type Mesh } from "#test/support/mesh.js";
import { type Started, startProcess } from "#test/support/process.js";

/**
 * Starts `services/main.ts` for capability `name` on a free port, with the mesh's data directory
 * (its blobs), and a gRPC client of `service` to it.
 */
export async function startCapability<S extends DescService>(
  name: string,
  service: S,
  mesh: Mesh,
): Promise<{ started: Started; client: Client<S> }> {
  const port = await freePort();
  const started = await startProcess(
    "services/main.ts",
    { CAPABILITY: name, PORT: String(port), LOG_LEVEL: "warn", FLOWFORGE_DATA_DIR: mesh.dataDir },
    { quiet: true },
  );
  const client = createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${started.port}` }));
  return { started, client };
}
