import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { Cipher } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { cryptoClient, failure, hex } from "./helpers.js";

/** A random source that hands out the given nonce, so published vectors can be checked. */
const fixedNonce = (nonce: Buffer) => (size: number) => {
  if (size !== nonce.length) throw new Error(`unexpected random size ${size}`);
  return Buffer.from(nonce);
};

function sealedPart(envelope: string): Buffer {
  return Buffer.from(envelope.split("$").at(-1)!, "base64url");
}

describe("Encrypt with published vectors", () => {
  it("AES-256-GCM, McGrew-Viega test case 16", async () => {
    const client = cryptoClient({ randomBytes: fixedNonce(hex("cafebabefacedbaddecaf888")) });
    const res = await client.encrypt({
      cipher: Cipher.AES_256_GCM,
      keySource: { case: "key", value: hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308") },
      plaintext: {
        case: "data",
        value: hex(
          "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        ),
      },
      associatedData: hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
    });
    expect(res.envelope.startsWith("$ffenc$v=1$c=aes-256-gcm$k=raw$")).toBe(true);
    expect(sealedPart(res.envelope).toString("hex")).toBe(
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
        "76fc6ece0f4e1768cddf8853bb2d551b",
    );
  });

  it("AES-256-GCM, McGrew-Viega test case 14 (zero key, zero block)", async () => {
    const client = cryptoClient({ randomBytes: fixedNonce(Buffer.alloc(12)) });
    const res = await client.encrypt({
      keySource: { case: "key", value: Buffer.alloc(32) },
      plaintext: { case: "data", value: Buffer.alloc(16) },
    });
    expect(sealedPart(res.envelope).toString("hex")).toBe(
      "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919",
    );
  });

  it("ChaCha20-Poly1305, RFC 8439 section 2.8.2", async () => {
    const client = cryptoClient({ randomBytes: fixedNonce(hex("070000004041424344454647")) });
    const res = await client.encrypt({
      cipher: Cipher.CHACHA20_POLY1305,
      keySource: { case: "key", value: hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f") },
      plaintext: {
        case: "text",
        value:
          "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      },
      associatedData: hex("50515253c0c1c2c3c4c5c6c7"),
    });
    expect(sealedPart(res.envelope).toString("hex")).toBe(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116" +
        "1ae10b594f09e26a7e902ecbd0600691",
    );
  });
});

describe("Encrypt / Decrypt round trips", () => {
  const client = cryptoClient();
  const key = Buffer.alloc(32, 7);

  it.each([Cipher.AES_256_GCM, Cipher.CHACHA20_POLY1305])(
    "cipher %s with a raw key and associated data",
    async (cipher) => {
      const { envelope } = await client.encrypt({
        cipher,
        keySource: { case: "key", value: key },
        plaintext: { case: "text", value: "héllo" },
        associatedData: Buffer.from("ctx"),
      });
      const out = await client.decrypt({
        envelope,
        keySource: { case: "key", value: key },
        associatedData: Buffer.from("ctx"),
      });
      expect(out.text).toBe("héllo");
      expect(Buffer.from(out.data).toString()).toBe("héllo");
      expect(out.cipher).toBe(cipher);
    },
  );

  it("with a passphrase through argon2id, parameters recorded in the envelope", async () => {
    const { envelope } = await client.encrypt({
      keySource: { case: "passphrase", value: "correct horse" },
      plaintext: { case: "data", value: Buffer.from([0xff, 0x00]) },
      kdf: { memoryKib: 8192, iterations: 1 },
    });
    expect(envelope).toMatch(/^\$ffenc\$v=1\$c=aes-256-gcm\$k=argon2id,m=8192,t=1,p=1,s=[\w-]+\$/);
    const out = await client.decrypt({ envelope, keySource: { case: "passphrase", value: "correct horse" } });
    expect([...out.data]).toEqual([0xff, 0x00]);
    expect(out.text).toBe("");
    const wrong = await failure(client.decrypt({ envelope, keySource: { case: "passphrase", value: "wrong horse" } }));
    expect(wrong).toMatchObject({ code: Code.InvalidArgument, fields: ["envelope"] });
  });

  it("refuses a tampered envelope, wrong associated data and a wrong key", async () => {
    const { envelope } = await client.encrypt({
      keySource: { case: "key", value: key },
      plaintext: { case: "text", value: "secret" },
    });
    const sealed = sealedPart(envelope);
    sealed[0] ^= 1;
    const tampered = envelope.slice(0, envelope.lastIndexOf("$") + 1) + sealed.toString("base64url");
    for (const req of [
      { envelope: tampered, keySource: { case: "key" as const, value: key } },
      { envelope, keySource: { case: "key" as const, value: key }, associatedData: Buffer.from("x") },
      { envelope, keySource: { case: "key" as const, value: Buffer.alloc(32, 8) } },
    ]) {
      const f = await failure(client.decrypt(req));
      expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["envelope"] });
      expect(f.message).toContain("authentication failed");
    }
  });

  it("refuses bad keys, missing inputs, hostile KDF parameters and malformed envelopes", async () => {
    expect(
      await failure(
        client.encrypt({
          keySource: { case: "key", value: Buffer.alloc(16) },
          plaintext: { case: "text", value: "x" },
        }),
      ),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["key"], message: "key: must be 32 bytes, got 16" });
    expect(await failure(client.encrypt({ plaintext: { case: "text", value: "x" } }))).toMatchObject({
      fields: ["key_source"],
    });
    expect(await failure(client.encrypt({ keySource: { case: "key", value: key } }))).toMatchObject({
      fields: ["plaintext"],
    });
    expect(
      await failure(
        client.encrypt({
          cipher: 9 as Cipher,
          keySource: { case: "key", value: key },
          plaintext: { case: "text", value: "x" },
        }),
      ),
    ).toMatchObject({ fields: ["cipher"] });
    expect(
      await failure(
        client.encrypt({
          keySource: { case: "passphrase", value: "p" },
          plaintext: { case: "text", value: "x" },
          kdf: { memoryKib: 4_000_000 },
        }),
      ),
    ).toMatchObject({ fields: ["kdf.memory_kib"] });
    const hostile =
      "$ffenc$v=1$c=aes-256-gcm$k=argon2id,m=4000000,t=3,p=1,s=AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA";
    expect(
      await failure(client.decrypt({ envelope: hostile, keySource: { case: "passphrase", value: "p" } })),
    ).toMatchObject({ fields: ["envelope.kdf.memory_kib"] });
    expect(await failure(client.decrypt({ envelope: "hello", keySource: { case: "key", value: key } }))).toMatchObject({
      fields: ["envelope"],
    });
    expect(await failure(client.decrypt({ envelope: "", keySource: { case: "key", value: key } }))).toMatchObject({
      fields: ["envelope"],
    });
    const { envelope } = await client.encrypt({
      keySource: { case: "key", value: key },
      plaintext: { case: "text", value: "x" },
    });
    expect(await failure(client.decrypt({ envelope, keySource: { case: "passphrase", value: "p" } }))).toMatchObject({
      fields: ["key"],
    });
  });
});
