import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import { CharacterClass, RandomKind } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { characterClasses } from "../random.js";
import { cryptoClient, failure } from "./helpers.js";

const client = cryptoClient();

describe("HashPassword / VerifyPassword", () => {
  it("verifies the RFC 9106 style argon2id hash made by the reference implementation", async () => {
    // Produced by the argon2 reference CLI: `echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1`.
    const reference = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    expect(await client.verifyPassword({ password: "password", hash: reference })).toEqual(
      expect.objectContaining({ valid: true, needsRehash: true }),
    );
    expect((await client.verifyPassword({ password: "Password", hash: reference })).valid).toBe(false);
  });

  it("hashes with argon2id and the given costs, and round-trips", async () => {
    const { hash } = await client.hashPassword({ password: "hunter2", params: { memoryKib: 8192, iterations: 2 } });
    expect(hash).toMatch(/^\$argon2id\$v=19\$/);
    expect(hash.split("$")[3].split(",").sort()).toEqual(["m=8192", "p=1", "t=2"]);
    expect(await client.verifyPassword({ password: "hunter2", hash })).toMatchObject({
      valid: true,
      needsRehash: true,
    });
    const strong = (await client.hashPassword({ password: "hunter2" })).hash;
    expect(await client.verifyPassword({ password: "hunter2", hash: strong })).toMatchObject({
      valid: true,
      needsRehash: false,
    });
  });

  it("refuses empty passwords, non-PHC hashes and hostile costs", async () => {
    expect(await failure(client.hashPassword({ password: "" }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["password"],
    });
    expect(await failure(client.hashPassword({ password: "x", params: { iterations: 1000 } }))).toMatchObject({
      fields: ["params.iterations"],
    });
    expect(
      await failure(client.verifyPassword({ password: "x", hash: "$2b$10$abcdefghijklmnopqrstuv" })),
    ).toMatchObject({ fields: ["hash"] });
    expect(
      await failure(
        client.verifyPassword({
          password: "x",
          hash: "$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
        }),
      ),
    ).toMatchObject({ fields: ["hash.memory_kib"] });
  });
});

describe("argon2 bounded by the service's memory budget", () => {
  it("a memory cost over half the budget is refused naming the field, in every method that derives with argon2", async () => {
    const small = cryptoClient({ limits: { argon2MemoryKib: 65_536 } }); // at most 32 MiB per call
    const hp = await failure(small.hashPassword({ password: "x", params: { memoryKib: 65_536 } }));
    expect(hp).toMatchObject({ code: Code.InvalidArgument, fields: ["params.memory_kib"] });
    expect(hp.message).toMatch(/at most 32768 KiB/);
    expect((await small.hashPassword({ password: "x", params: { memoryKib: 32_768, iterations: 1 } })).hash).toMatch(
      /m=32768/,
    );
    const enc = await failure(
      small.encrypt({
        keySource: { case: "passphrase", value: "pw" },
        kdf: { memoryKib: 65_536 },
        plaintext: { case: "text", value: "hi" },
      }),
    );
    expect(enc.fields).toEqual(["kdf.memory_kib"]);
    // An envelope or hash made elsewhere with a larger cost is refused the same way.
    const { envelope } = await client.encrypt({
      keySource: { case: "passphrase", value: "pw" },
      kdf: { memoryKib: 65_536, iterations: 1 },
      plaintext: { case: "text", value: "hi" },
    });
    expect((await failure(small.decrypt({ envelope, keySource: { case: "passphrase", value: "pw" } }))).fields).toEqual(
      ["envelope"],
    );
    const { hash } = await client.hashPassword({ password: "x", params: { memoryKib: 65_536, iterations: 1 } });
    expect((await failure(small.verifyPassword({ password: "x", hash }))).fields).toEqual(["hash"]);
    expect((await client.verifyPassword({ password: "x", hash })).valid).toBe(true);
  });
});

describe("Random", () => {
  it("bytes of the requested length and encoding", async () => {
    const res = await client.random({ kind: RandomKind.BYTES, length: 16, count: 3, encoding: Encoding.HEX });
    expect(res.values).toHaveLength(3);
    for (const v of res.values) expect(v).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(res.values).size).toBe(3);
  });

  it("version 4 UUIDs", async () => {
    const res = await client.random({ kind: RandomKind.UUID, count: 5 });
    for (const v of res.values)
      expect(v).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("passwords hold one of each chosen class and nothing else", async () => {
    const res = await client.random({
      kind: RandomKind.PASSWORD,
      length: 8,
      count: 200,
      classes: [CharacterClass.DIGITS, CharacterClass.SYMBOLS],
    });
    const digits = characterClasses[CharacterClass.DIGITS];
    const symbols = characterClasses[CharacterClass.SYMBOLS];
    for (const v of res.values) {
      expect(v).toHaveLength(8);
      expect([...v].some((c) => digits.includes(c))).toBe(true);
      expect([...v].some((c) => symbols.includes(c))).toBe(true);
      expect([...v].every((c) => digits.includes(c) || symbols.includes(c))).toBe(true);
    }
    const custom = await client.random({ kind: RandomKind.PASSWORD, length: 64, charset: "ab" });
    expect(custom.values[0]).toMatch(/^[ab]{64}$/);
  });

  it("refuses missing kinds and out-of-range sizes", async () => {
    expect(await failure(client.random({}))).toMatchObject({ code: Code.InvalidArgument, fields: ["kind"] });
    expect(await failure(client.random({ kind: RandomKind.BYTES, length: 1_000_000 }))).toMatchObject({
      fields: ["length"],
    });
    expect(await failure(client.random({ kind: RandomKind.UUID, count: 5000 }))).toMatchObject({ fields: ["count"] });
    expect(await failure(client.random({ kind: RandomKind.PASSWORD, charset: "aaaa" }))).toMatchObject({
      fields: ["charset"],
    });
  });
});
