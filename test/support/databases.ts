/**
 * The two SQL backends every storage test runs against: the real PostgreSQL on this machine
 * (an isolated schema per test file) and embedded PGlite over the wire protocol.
 */
import { randomBytes } from "node:crypto";
import { createSql, type Sql } from "#db/sql.js";
import { migrate } from "#db/migrate.js";
import { startEmbeddedPostgres } from "#db/pglite-server.js";

/** URL of the real PostgreSQL used by tests. */
export const postgresUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A migrated database for one test file. */
export interface TestDatabase {
  sql: Sql;
  /** URL and schema, for processes that need their own connection. */
  url: string;
  schema?: string;
  close(): Promise<void>;
}

/** A fresh schema in the real PostgreSQL, migrated. */
export async function postgresDatabase(): Promise<TestDatabase> {
  const schema = `ff_test_${randomBytes(6).toString("hex")}`;
  const admin = createSql(postgresUrl, { max: 1 });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const sql = createSql(postgresUrl, { schema, max: 4 });
  await migrate(sql);
  return {
    sql,
    url: postgresUrl,
    schema,
    async close() {
      await sql.end();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** A fresh in-memory PGlite behind its wire-protocol server, migrated. */
export async function pgliteDatabase(): Promise<TestDatabase> {
  const pg = await startEmbeddedPostgres();
  const sql = createSql(pg.url, { max: 4 });
  await migrate(sql);
  return {
    sql,
    url: pg.url,
    async close() {
      await sql.end();
      await pg.stop();
    },
  };
}

/** Both backends, for `describe.each`. */
export const databases: [string, () => Promise<TestDatabase>][] = [
  ["postgresql", postgresDatabase],
  ["pglite", pgliteDatabase],
];

/** A fresh database in the real PostgreSQL (for whole processes that take only a URL). */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ff_test_${randomBytes(6).toString("hex")}`;
  const admin = createSql(postgresUrl, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
