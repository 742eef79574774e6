/** Forward-only SQL migrations from lib/db/migrations, each applied once, in order, in a transaction. */
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Sql } from "./sql.js";

const dir = fileURLToPath(new URL("./migrations/", import.meta.url));

/** The migrations' file names, in the order they apply. */
export function migrations(): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort();
}

/** Applies pending migrations; safe to run from several processes at once. Returns those applied. */
export async function migrate(sql: Sql): Promise<string[]> {
  const files = migrations();
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    // One migrator at a time across processes.
    await tx`SELECT pg_advisory_xact_lock(7242031)`;
    await tx`CREATE TABLE IF NOT EXISTS flowforge_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set((await tx<{ name: string }[]>`SELECT name FROM flowforge_migrations`).map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      await tx.unsafe(await readFile(dir + file, "utf8"));
      await tx`INSERT INTO flowforge_migrations (name) VALUES (${file})`;
      applied.push(file);
    }
  });
  return applied;
}
