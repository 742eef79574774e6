/** Embedded PGlite over the wire under concurrent clients: no crossed statements or transactions. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
});
