import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { createKeyStore, type KeyStore } from "../auth/key-store.js";
import { databases, type TestDatabase } from "#test/support/databases.js";
import { migrate } from "#db/migrate.js";

describe.each(databases)("key store on %s", (_name, open) => {
  let db: TestDatabase;
  let store: KeyStore;
  beforeAll(async () => {
    db = await open();
    store = createKeyStore({ sql: db.sql, adminKey: "operator-key", cacheTtlMs: 60_000 });
  });
  afterAll(() => db.close());

  it("migrations are idempotent", async () => {
    expect(await migrate(db.sql)).toEqual([]);
  });

  it("creates a key whose secret authenticates, stores only its hash", async () => {
    const { record, secret } = await store.create({ tenantId: "acme", name: "ci", tier: Tier.PRO, scopes: ["crypto"] });
    expect(secret).toMatch(/^ffk_[0-9a-f]{16}_[\w-]{43}$/);
    expect(secret).toContain(record.keyId);
    expect(await store.authenticate(secret)).toMatchObject({
      keyId: record.keyId,
      tenantId: "acme",
      tier: Tier.PRO,
      scopes: ["crypto"],
    });
    const [row] = await db.sql`SELECT * FROM api_keys WHERE id = ${record.keyId}`;
    expect(JSON.stringify(row)).not.toContain(secret.slice("ffk_".length + 17));
    expect(Buffer.from(row.secret_hash).length).toBe(32);
  });

  it("refuses unknown, malformed and tampered secrets", async () => {
    const { secret } = await store.create({ tenantId: "acme", name: "", tier: Tier.FREE, scopes: ["*"] });
    expect(await store.authenticate(secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A"))).toBeUndefined();
    expect(await store.authenticate("nope")).toBeUndefined();
    expect(await store.authenticate("")).toBeUndefined();
  });

  it("the operator key authenticates with every scope", async () => {
    expect(await store.authenticate("operator-key")).toMatchObject({ keyId: "admin", scopes: ["*", "admin"] });
  });

  it("revocation takes effect at once, even with a warm cache", async () => {
    const { record, secret } = await store.create({ tenantId: "acme", name: "", tier: Tier.FREE, scopes: ["*"] });
    expect(await store.authenticate(secret)).toBeDefined();
    const revoked = await store.revoke(record.keyId);
    expect(revoked?.revokeTime).toBeInstanceOf(Date);
    expect(await store.authenticate(secret)).toBeUndefined();
    // A second store (another gateway replica) never sees it as valid either.
    expect(await createKeyStore({ sql: db.sql }).authenticate(secret)).toBeUndefined();
    expect(await store.revoke("0000000000000000")).toBeUndefined();
  });

  it("lists per tenant, newest first, in pages, hiding revoked keys unless asked", async () => {
    const made = [];
    for (let i = 0; i < 5; i++)
      made.push((await store.create({ tenantId: "paged", name: `k${i}`, tier: Tier.FREE, scopes: ["*"] })).record);
    await store.revoke(made[0].keyId);
    const first = await store.list({ tenantId: "paged", pageSize: 2 });
    expect(first.keys.map((k) => k.name)).toEqual(["k4", "k3"]);
    const second = await store.list({ tenantId: "paged", pageSize: 2, pageToken: first.nextPageToken });
    expect(second.keys.map((k) => k.name)).toEqual(["k2", "k1"]);
    expect(second.nextPageToken).toBe("");
    const all = await store.list({ tenantId: "paged", pageSize: 10, includeRevoked: true });
    expect(all.keys.map((k) => k.name)).toEqual(["k4", "k3", "k2", "k1", "k0"]);
    expect((await store.list({ tenantId: "nobody", pageSize: 10 })).keys).toEqual([]);
    // A token of another list, or past bigint, is refused naming the field.
    for (const token of [
      Buffer.from("jobs:1").toString("base64url"),
      Buffer.from("keys:9999999999999999999").toString("base64url"),
    ]) {
      await expect(store.list({ tenantId: "paged", pageSize: 2, pageToken: token })).rejects.toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: "page_token: not a token from a previous page",
      });
    }
  });
});
