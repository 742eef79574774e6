/**
 * Embedded PGlite over the wire under concurrent clients: no crossed statements or transactions;
 * a database still opening holds what is sent meanwhile, and one that fails to open refuses it; a
 * new data directory from the build's template opens migrated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { root } from "#test/support/mesh.js";
import { isTemplate, startEmbeddedPostgres, type EmbeddedPostgres } from "../pglite-server.js";
import { migrate } from "../migrate.js";
import { serveWire } from "../pglite-wire.js";
import { createSql, type Sql } from "../sql.js";

let pg: EmbeddedPostgres;
let clients: Sql[];

beforeAll(async () => {
  pg = await startEmbeddedPostgres();
  clients = [createSql(pg.url, { max: 4 }), createSql(pg.url, { max: 4 }), createSql(pg.url, { max: 4 })];
  await clients[0]`CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)`;
  await clients[0]`INSERT INTO counter VALUES (1, 0)`;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end()));
  await pg.stop();
});

describe("PGlite wire server", () => {
  it("answers many concurrent parameterised queries from many connections correctly", async () => {
    const results = await Promise.all(
      Array.from(
        { length: 600 },
        (_, i) => clients[i % 3]<{ v: number; s: string }[]>`SELECT ${i}::int AS v, ${`s${i}`}::text AS s`,
      ),
    );
    for (const [i, rows] of results.entries()) expect(rows[0]).toEqual({ v: i, s: `s${i}` });
  });

  it("keeps transactions whole: concurrent read-modify-write transactions lose no update", async () => {
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        clients[i % 3].begin(async (tx) => {
          const [{ n }] = await tx<{ n: number }[]>`SELECT n FROM counter WHERE id = 1`;
          await tx`UPDATE counter SET n = ${n + 1} WHERE id = 1`;
        }),
      ),
    );
    expect((await clients[1]<{ n: number }[]>`SELECT n FROM counter WHERE id = 1`)[0].n).toBe(60);
  });

  it("rolls back a failed transaction without disturbing other connections", async () => {
    await expect(
      clients[0].begin(async (tx) => {
        await tx`UPDATE counter SET n = 1000 WHERE id = 1`;
        await tx`SELECT 1/0`;
      }),
    ).rejects.toThrow(/division by zero/);
    expect((await clients[2]<{ n: number }[]>`SELECT n FROM counter WHERE id = 1`)[0].n).toBe(60);
  });

  it("a connection that dies inside a transaction has it rolled back; the next statements from others commit", async () => {
    // A raw client: start up, BEGIN and update in one simple query, then vanish (as a SIGKILLed process does).
    const { port } = new URL(pg.url);
    const socket = connect(Number(port), "127.0.0.1");
    const params = Buffer.from("user\0postgres\0database\0postgres\0\0");
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    const text = Buffer.from("BEGIN; UPDATE counter SET n = -1 WHERE id = 1\0");
    const query = Buffer.alloc(5);
    query.write("Q", 0);
    query.writeInt32BE(4 + text.length, 1);
    let seen = Buffer.alloc(0);
    const readyIn = (status: string) =>
      new Promise<void>((resolve) => {
        const look = () => {
          // ReadyForQuery: 'Z', length 5, status ('I' idle, 'T' in a transaction).
          for (let i = 0; i + 5 < seen.length; i++)
            if (seen[i] === 0x5a && seen.readInt32BE(i + 1) === 5 && seen[i + 5] === status.charCodeAt(0)) {
              seen = seen.subarray(i + 6);
              socket.off("data", onData);
              return resolve();
            }
        };
        const onData = (chunk: Buffer) => {
          seen = Buffer.concat([seen, chunk]);
          look();
        };
        socket.on("data", onData);
        look();
      });
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write(Buffer.concat([startup, params]));
    await readyIn("I");
    socket.write(Buffer.concat([query, text]));
    await readyIn("T");
    socket.destroy();
    // Another connection's update commits, and nothing of the dead transaction is seen.
    await clients[1]`UPDATE counter SET n = n + 1 WHERE id = 1`;
    const [{ n }] = await clients[2]<{ n: number }[]>`SELECT n FROM counter WHERE id = 1`;
    expect(n).toBe(61);
    expect(await clients[0].begin(async (tx) => (await tx<{ n: number }[]>`SELECT n FROM counter`)[0].n)).toBe(61);
  });
});

describe("a database still opening", () => {
  it("holds the statements sent meanwhile and answers them once it is open", async () => {
    // Made first (an in-memory initdb takes seconds), handed to the server only once a statement waits.
    const db = await PGlite.create();
    let open!: (db: PGlite) => void;
    const server = await serveWire(new Promise<PGlite>((resolve) => (open = resolve)));
    const sql = createSql(server.url, { max: 1 });
    try {
      let answered = false;
      const early = sql<{ v: number }[]>`SELECT 41 + 1 AS v`.then((rows) => {
        answered = true;
        return rows;
      });
      // Nothing can answer before the database exists: the statement waits rather than failing.
      await new Promise((r) => setImmediate(r));
      expect(answered).toBe(false);
      open(db);
      expect((await early)[0].v).toBe(42);
    } finally {
      await sql.end();
      await server.close();
      await db.close();
    }
  });

  it("closes every connection when it fails to open, those waiting and those that come later", async () => {
    let fail!: (err: Error) => void;
    const server = await serveWire(new Promise<PGlite>((_, reject) => (fail = reject)));
    // A client's start-up message (protocol 3.0), then whether the server closes the connection.
    const closedAfterStartup = () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(server.port, "127.0.0.1", () => {
          const startup = Buffer.alloc(8);
          startup.writeInt32BE(8, 0);
          startup.writeInt32BE(196608, 4);
          socket.write(startup);
        });
        socket.on("error", () => {});
        socket.on("data", () => resolve(false)); // an answer: it did not fail
        socket.on("close", () => resolve(true));
      });
    try {
      const waiting = closedAfterStartup();
      fail(new Error("data directory is damaged"));
      expect(await waiting).toBe(true);
      expect(await closedAfterStartup()).toBe(true);
    } finally {
      await server.close();
    }
  });
});

describe("a new data directory made from the build's template (npm run build makes it)", () => {
  it("opens already migrated, with pgvector created, and a second start keeps what the first wrote", async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), "flowforge-template-")), "pgdata");
    const template = join(root, "dist/pglite-template");
    expect(isTemplate(template)).toBe(true);
    try {
      for (const run of [1, 2]) {
        const db = await startEmbeddedPostgres({ dataDir, template, listenFirst: true });
        const sql = createSql(db.url, { max: 1 });
        try {
          expect(await migrate(sql)).toEqual([]); // nothing left to apply
          const extensions = await sql<{ extname: string }[]>`SELECT extname FROM pg_extension`;
          expect(extensions.map((e) => e.extname)).toContain("vector");
          if (run === 1)
            await sql`INSERT INTO usage (key_id, tenant_id, method, day, calls) VALUES ('k', 't', 'm', CURRENT_DATE, 7)`;
          else
            expect(Number((await sql<{ calls: string }[]>`SELECT calls FROM usage WHERE key_id = 'k'`)[0].calls)).toBe(
              7,
            );
        } finally {
          await sql.end();
          await db.stop();
        }
      }
    } finally {
      await rm(dirname(dataDir), { recursive: true, force: true });
    }
  });
});
