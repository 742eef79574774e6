import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import { HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { cryptoClient, failure, hex } from "./helpers.js";

const client = cryptoClient();

// FIPS 180-2 / FIPS 202 / RFC 1321 / RFC 7693 examples for the message "abc".
const abc: [HashAlgorithm, string][] = [
  [HashAlgorithm.MD5, "900150983cd24fb0d6963f7d28e17f72"],
  [HashAlgorithm.SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"],
  [HashAlgorithm.SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    HashAlgorithm.SHA384,
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
  ],
  [
    HashAlgorithm.SHA512,
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
  ],
  [HashAlgorithm.SHA3_256, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"],
  [
    HashAlgorithm.SHA3_384,
    "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25",
  ],
  [
    HashAlgorithm.SHA3_512,
    "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
  ],
  [
    HashAlgorithm.BLAKE2B_512,
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
  ],
];

describe("Hash", () => {
  it.each(abc)("algorithm %s matches the published digest of 'abc'", async (algorithm, digest) => {
    const res = await client.hash({ algorithm, input: { case: "text", value: "abc" } });
    expect(res.digest).toBe(digest);
    expect(res.encoding).toBe(Encoding.HEX);
  });

  it("hashes bytes and the empty string, in base64", async () => {
    const bytes = await client.hash({
      algorithm: HashAlgorithm.SHA256,
      input: { case: "data", value: Buffer.from("abc") },
      encoding: Encoding.BASE64,
    });
    expect(bytes.digest).toBe(hex(abc[2][1]).toString("base64"));
    const empty = await client.hash({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "" } });
    expect(empty.digest).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("SHA-256 of the two-block FIPS 180-2 message", async () => {
    const res = await client.hash({
      algorithm: HashAlgorithm.SHA256,
      input: { case: "text", value: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" },
    });
    expect(res.digest).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  });

  it("refuses a missing algorithm, an unknown one, and a missing input, naming the field", async () => {
    expect(await failure(client.hash({ input: { case: "text", value: "x" } }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["algorithm"],
    });
    expect(
      await failure(client.hash({ algorithm: 99 as HashAlgorithm, input: { case: "text", value: "x" } })),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["algorithm"] });
    expect(await failure(client.hash({ algorithm: HashAlgorithm.SHA256 }))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["input"],
    });
  });
});

describe("Hmac", () => {
  // RFC 4231 test cases 1, 2 and 6.
  const key1 = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  it("RFC 4231 case 1 (SHA-256, SHA-384, SHA-512)", async () => {
    const input = { case: "text" as const, value: "Hi There" };
    const key = { case: "keyData" as const, value: key1 };
    expect((await client.hmac({ algorithm: HashAlgorithm.SHA256, key, input })).digest).toBe(
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    );
    expect((await client.hmac({ algorithm: HashAlgorithm.SHA384, key, input })).digest).toBe(
      "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    );
    expect((await client.hmac({ algorithm: HashAlgorithm.SHA512, key, input })).digest).toBe(
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    );
  });

  it("RFC 4231 case 2 with a text key, and `expected` compared", async () => {
    const req = {
      algorithm: HashAlgorithm.SHA256,
      key: { case: "keyText" as const, value: "Jefe" },
      input: { case: "text" as const, value: "what do ya want for nothing?" },
    };
    const digest = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    expect(await client.hmac(req)).toMatchObject({ digest, matches: false });
    expect((await client.hmac({ ...req, expected: digest.toUpperCase() })).matches).toBe(true);
    expect((await client.hmac({ ...req, expected: digest.replace(/.$/, "4") })).matches).toBe(false);
  });

  it("RFC 4231 case 6 (key longer than the block)", async () => {
    const res = await client.hmac({
      algorithm: HashAlgorithm.SHA256,
      key: { case: "keyData", value: Buffer.alloc(131, 0xaa) },
      input: { case: "text", value: "Test Using Larger Than Block-Size Key - Hash Key First" },
    });
    expect(res.digest).toBe("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  });

  it("refuses a missing or empty key", async () => {
    expect(
      await failure(client.hmac({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "x" } })),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["key"] });
    expect(
      await failure(
        client.hmac({
          algorithm: HashAlgorithm.SHA256,
          key: { case: "keyText", value: "" },
          input: { case: "text", value: "x" },
        }),
      ),
    ).toMatchObject({ fields: ["key_text"] });
  });
});
