import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { Encoding } from "#gen/flowforge/common/v1/common_pb.js";
import { HashAlgorithm, JwtAlgorithm, KeyFormat, KeyType, RsaPadding } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { cryptoClient, failure } from "./helpers.js";

const client = cryptoClient();
const text = (value: string) => ({ case: "secretText" as const, value });

// RFC 8037 appendix A.1: the Ed25519 key of RFC 8032 section 7.1, test 1, as a JWK.
const rfc8037Private = JSON.stringify({
  kty: "OKP",
  crv: "Ed25519",
  d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
  x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
});
const rfc8037Public = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });

describe("Sign / Verify", () => {
  it("Ed25519 matches RFC 8032 section 7.1 test 1 (empty message)", async () => {
    const { signature } = await client.sign({
      privateKey: rfc8037Private,
      input: { case: "data", value: new Uint8Array() },
      encoding: Encoding.HEX,
    });
    expect(signature).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    const ok = await client.verify({
      publicKey: rfc8037Public,
      input: { case: "data", value: new Uint8Array() },
      signature,
      encoding: Encoding.HEX,
    });
    expect(ok.valid).toBe(true);
    const bad = await client.verify({
      publicKey: rfc8037Public,
      input: { case: "text", value: "x" },
      signature,
      encoding: Encoding.HEX,
    });
    expect(bad.valid).toBe(false);
  });

  it.each([
    [KeyType.RSA_2048, RsaPadding.PKCS1_V15, HashAlgorithm.SHA256],
    [KeyType.RSA_2048, RsaPadding.PSS, HashAlgorithm.SHA512],
    [KeyType.EC_P256, RsaPadding.UNSPECIFIED, HashAlgorithm.SHA256],
    [KeyType.EC_P384, RsaPadding.UNSPECIFIED, HashAlgorithm.SHA384],
    [KeyType.ED25519, RsaPadding.UNSPECIFIED, HashAlgorithm.UNSPECIFIED],
  ])("generated %s keys sign and verify (padding %s, hash %s), PEM and JWK", async (type, padding, hash) => {
    for (const format of [KeyFormat.PEM, KeyFormat.JWK]) {
      const pair = await client.generateKeyPair({ type, format });
      if (format === KeyFormat.PEM) {
        expect(pair.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
        expect(pair.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
      } else {
        expect(JSON.parse(pair.privateKey)).toHaveProperty("d");
        expect(JSON.parse(pair.publicKey)).not.toHaveProperty("d");
      }
      expect(pair.keyId).toMatch(/^[\w-]{43}$/);
      const input = { case: "text" as const, value: "payload" };
      const { signature } = await client.sign({ privateKey: pair.privateKey, input, hash, padding });
      expect((await client.verify({ publicKey: pair.publicKey, input, signature, hash, padding })).valid).toBe(true);
      expect(
        (
          await client.verify({
            publicKey: pair.publicKey,
            input: { case: "text", value: "other" },
            signature,
            hash,
            padding,
          })
        ).valid,
      ).toBe(false);
    }
  });

  it("refuses malformed keys and signatures, naming the field", async () => {
    const input = { case: "text" as const, value: "x" };
    expect(
      await failure(client.sign({ privateKey: "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----", input })),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["private_key"] });
    expect(await failure(client.sign({ privateKey: "", input }))).toMatchObject({ fields: ["private_key"] });
    expect(await failure(client.sign({ privateKey: rfc8037Private, input, hash: HashAlgorithm.SHA256 }))).toMatchObject(
      { fields: ["hash"] },
    );
    expect(await failure(client.verify({ publicKey: rfc8037Public, input, signature: "%%%" }))).toMatchObject({
      fields: ["signature"],
    });
    expect(await failure(client.verify({ publicKey: '{"kty":"OKP"}', input, signature: "AA==" }))).toMatchObject({
      fields: ["public_key"],
    });
    expect(await failure(client.generateKeyPair({}))).toMatchObject({ fields: ["type"] });
  });
});

describe("SignJwt / VerifyJwt", () => {
  it("reproduces the RFC 8037 appendix A.4 Ed25519 JWS", async () => {
    // The RFC signs the payload "Example of Ed25519 signing" with header {"alg":"EdDSA"}; our JWTs
    // carry claims, so verify the RFC's token instead of re-creating it.
    const token =
      "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    const { sign } = await import("node:crypto");
    const { createPrivateKey } = await import("node:crypto");
    const sig = sign(
      null,
      Buffer.from(token.split(".").slice(0, 2).join(".")),
      createPrivateKey({ key: JSON.parse(rfc8037Private), format: "jwk" }),
    );
    expect(sig.toString("base64url")).toBe(token.split(".")[2]);
  });

  it("HS256 round trip with registered claims; tampering and wrong secrets are refused on `token`", async () => {
    const { token } = await client.signJwt({
      claims: { role: "admin", n: 3 },
      secret: text("s3cret-s3cret-s3cret-s3cret-s3cret"),
      issuer: "ff",
      audience: ["n8n"],
      subject: "u1",
      expiresInSeconds: 60,
      keyId: "k1",
    });
    const header = JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString());
    expect(header).toEqual({ alg: "HS256", typ: "JWT", kid: "k1" });
    const res = await client.verifyJwt({
      token,
      secret: text("s3cret-s3cret-s3cret-s3cret-s3cret"),
      issuer: "ff",
      audience: "n8n",
    });
    expect(res.payload).toMatchObject({ role: "admin", n: 3, iss: "ff", aud: "n8n", sub: "u1" });
    expect((res.payload!.exp as number) - (res.payload!.iat as number)).toBe(60);
    const [h, p, s] = token.split(".");
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), role: "root" }),
    ).toString("base64url");
    expect(
      await failure(
        client.verifyJwt({ token: `${h}.${forged}.${s}`, secret: text("s3cret-s3cret-s3cret-s3cret-s3cret") }),
      ),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["token"] });
    expect(await failure(client.verifyJwt({ token, secret: text("another-secret-another-secret-00") }))).toMatchObject({
      fields: ["token"],
    });
    expect(
      await failure(client.verifyJwt({ token, secret: text("s3cret-s3cret-s3cret-s3cret-s3cret"), issuer: "other" })),
    ).toMatchObject({ fields: ["token"] });
    expect(await failure(client.verifyJwt({ token: "not.a.jwt", secret: text("k") }))).toMatchObject({
      fields: ["token"],
    });
  });

  it("asymmetric keys: EdDSA by default, ES256, RS256 and a JWK Set; alg confusion refused", async () => {
    const verified = await client.verifyJwt({
      token: (await client.signJwt({ key: rfc8037Private, claims: { a: 1 } })).token,
      key: rfc8037Public,
    });
    expect(verified.protectedHeader).toMatchObject({ alg: "EdDSA" });
    for (const [type, alg] of [
      [KeyType.EC_P256, JwtAlgorithm.ES256],
      [KeyType.RSA_2048, JwtAlgorithm.RS256],
    ] as const) {
      const pair = await client.generateKeyPair({ type, format: KeyFormat.JWK });
      const { token } = await client.signJwt({
        key: pair.privateKey,
        algorithm: alg,
        claims: { t: type },
        keyId: pair.keyId,
      });
      const jwks = JSON.stringify({ keys: [{ ...JSON.parse(pair.publicKey), kid: pair.keyId }] });
      expect((await client.verifyJwt({ token, key: jwks })).payload).toMatchObject({ t: type });
      // HS256 is not of this key's family: refused on the algorithms, before any token is read.
      expect(
        await failure(client.verifyJwt({ token, key: pair.publicKey, algorithms: [JwtAlgorithm.HS256] })),
      ).toMatchObject({ fields: ["algorithms"] });
    }
    expect(await failure(client.signJwt({ key: rfc8037Private, algorithm: JwtAlgorithm.RS256 }))).toMatchObject({
      fields: ["algorithm"],
    });
  });

  it("an expired token is refused", async () => {
    const { token } = await client.signJwt({ secret: text("k".repeat(32)), expiresInSeconds: 1 });
    const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
    const { createHmac } = await import("node:crypto");
    const expired = Buffer.from(JSON.stringify({ ...payload, exp: payload.iat - 10 })).toString("base64url");
    const head = token.split(".")[0];
    const sig = createHmac("sha256", "k".repeat(32)).update(`${head}.${expired}`).digest("base64url");
    const f = await failure(client.verifyJwt({ token: `${head}.${expired}.${sig}`, secret: text("k".repeat(32)) }));
    expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["token"] });
    expect(f.message).toMatch(/exp/);
  });
});
