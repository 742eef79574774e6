/** Embedded PGlite over the wire under concurrent clients: no crossed statements or transactions. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../pglite-server.js";
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
