/** The production shape on this machine: a nats-server of the test's own, a fresh PostgreSQL database, and the mesh on them. */
import { startMesh, type Mesh } from "./mesh.js";
import { startNats, type NatsServer } from "./nats.js";
import { freshPostgresDatabase } from "./databases.js";

/** A running production-shaped mesh. */
export interface ProductionMesh {
  mesh: Mesh;
  nats: NatsServer;
  databaseUrl: string;
  /** Stops the mesh, then NATS, then drops the database. */
  stop(): Promise<void>;
}

/** Starts NATS, a database and the mesh with `NATS_URL` and `DATABASE_URL` set (plus `env`). */
export async function startProductionMesh(env: NodeJS.ProcessEnv = {}): Promise<ProductionMesh> {
  const nats = await startNats();
  const db = await freshPostgresDatabase();
  const mesh = await startMesh({ NATS_URL: nats.url, DATABASE_URL: db.url, ...env });
  return {
    mesh,
    nats,
    databaseUrl: db.url,
    async stop() {
      await mesh.stop();
      await nats.stop();
      await db.drop();
    },
  };
}
