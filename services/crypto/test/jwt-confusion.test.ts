/**
 * Algorithm confusion: the key's type decides the JWS algorithm family. A public key (PEM, JWK or a
 * JWK Set) never becomes an HMAC secret, whatever the algorithm list says; secrets come only from
 * secret_text / secret_data.
 */
import { createHmac, createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { JwtAlgorithm, KeyFormat, KeyType } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { cryptoClient, failure } from "./helpers.js";

const client = cryptoClient();
const b64url = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** A token HMAC-signed with `secret`, as an attacker who knows the public key would make it. */
function forge(secret: string | Buffer, claims: object, alg = "HS256"): string {
  const signingInput = `${b64url({ alg, typ: "JWT" })}.${b64url(claims)}`;
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg]!;
  return `${signingInput}.${createHmac(hash, secret).update(signingInput).digest("base64url")}`;
}

const pairs = [
  { type: KeyType.RSA_2048, alg: JwtAlgorithm.RS256 },
  { type: KeyType.EC_P256, alg: JwtAlgorithm.ES256 },
  { type: KeyType.ED25519, alg: JwtAlgorithm.EDDSA },
];

describe("VerifyJwt algorithm confusion", () => {
  for (const { type, alg } of pairs) {
    it(`${KeyType[type]}: HS* tokens signed with the public key's PEM, DER or JWK text never verify, the genuine token does`, async () => {
      const pem = await client.generateKeyPair({ type, format: KeyFormat.PEM });
      const jwkPublic = JSON.stringify(createPublicKey(pem.publicKey).export({ format: "jwk" }));
      const der = createPublicKey(pem.publicKey).export({ format: "der", type: "spki" });
      const genuine = (await client.signJwt({ key: pem.privateKey, algorithm: alg, claims: { sub: "user" } })).token;
      const forgeries = [pem.publicKey, pem.publicKey.trim(), jwkPublic, der].flatMap((secret) =>
        ["HS256", "HS384", "HS512"].map((hs) => forge(secret, { sub: "admin" }, hs)),
      );
      for (const key of [pem.publicKey, jwkPublic]) {
        // The mixed list: the key's own algorithm and HS256.
        const mixed = [alg, JwtAlgorithm.HS256, JwtAlgorithm.HS384, JwtAlgorithm.HS512];
        expect((await client.verifyJwt({ token: genuine, key, algorithms: mixed })).payload).toMatchObject({
          sub: "user",
        });
        expect((await client.verifyJwt({ token: genuine, key })).payload).toMatchObject({ sub: "user" });
        for (const token of forgeries) {
          for (const algorithms of [mixed, []]) {
            const f = await failure(client.verifyJwt({ token, key, algorithms }));
            expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["token"] });
          }
          // Only HS* asked for with a public key: refused on the algorithm list, naming where secrets go.
          const f = await failure(client.verifyJwt({ token, key, algorithms: [JwtAlgorithm.HS256] }));
          expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["algorithms"] });
          expect(f.message).toMatch(/secret_text or secret_data/);
        }
      }
      // The same through a JWK Set holding the public key.
      const jwks = JSON.stringify({ keys: [JSON.parse(jwkPublic)] });
      expect(
        (await client.verifyJwt({ token: genuine, key: jwks, algorithms: [alg, JwtAlgorithm.HS256] })).payload,
      ).toMatchObject({ sub: "user" });
      for (const token of forgeries) {
        expect(
          await failure(client.verifyJwt({ token, key: jwks, algorithms: [alg, JwtAlgorithm.HS256] })),
        ).toMatchObject({ fields: ["token"] });
      }
    });
  }

  it("a secret only ever verifies HS*: an RS256 token checked with its public key's text as a secret is refused", async () => {
    const pair = await client.generateKeyPair({ type: KeyType.RSA_2048, format: KeyFormat.PEM });
    const genuine = (
      await client.signJwt({ key: pair.privateKey, algorithm: JwtAlgorithm.RS256, claims: { sub: "u" } })
    ).token;
    const secret = { case: "secretText" as const, value: pair.publicKey };
    expect(
      await failure(client.verifyJwt({ token: genuine, secret, algorithms: [JwtAlgorithm.RS256, JwtAlgorithm.HS256] })),
    ).toMatchObject({ fields: ["token"] });
    expect(await failure(client.verifyJwt({ token: genuine, secret, algorithms: [JwtAlgorithm.RS256] }))).toMatchObject(
      { fields: ["algorithms"] },
    );
    // An HMAC token made with that text verifies only when the caller says it is a secret.
    const hs = forge(pair.publicKey, { sub: "svc" });
    expect((await client.verifyJwt({ token: hs, secret })).payload).toMatchObject({ sub: "svc" });
    const data = { case: "secretData" as const, value: new Uint8Array(Buffer.from(pair.publicKey)) };
    expect((await client.verifyJwt({ token: hs, secret: data })).payload).toMatchObject({ sub: "svc" });
  });

  it("alg none, symmetric JWKs and plain text in key are refused", async () => {
    const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "admin" })}.`;
    const pair = await client.generateKeyPair({ type: KeyType.EC_P256, format: KeyFormat.PEM });
    expect(await failure(client.verifyJwt({ token: none, key: pair.publicKey }))).toMatchObject({ fields: ["token"] });
    expect(await failure(client.verifyJwt({ token: none, secret: { case: "secretText", value: "s" } }))).toMatchObject({
      fields: ["token"],
    });
    const oct = { kty: "oct", k: b64url("shared-secret") };
    const token = forge("shared-secret", { sub: "admin" });
    expect(await failure(client.verifyJwt({ token, key: JSON.stringify(oct) }))).toMatchObject({ fields: ["key"] });
    expect(await failure(client.verifyJwt({ token, key: JSON.stringify({ keys: [oct] }) }))).toMatchObject({
      fields: ["key.keys[0]"],
    });
    const plain = await failure(client.verifyJwt({ token, key: "shared-secret" }));
    expect(plain).toMatchObject({ code: Code.InvalidArgument, fields: ["key"] });
    expect(plain.message).toMatch(/secret_text or secret_data/);
    expect(
      await failure(
        client.verifyJwt({ token, key: pair.publicKey, secret: { case: "secretText", value: "shared-secret" } }),
      ),
    ).toMatchObject({ fields: ["key"] });
    expect(await failure(client.verifyJwt({ token, secret: { case: "secretText", value: "" } }))).toMatchObject({
      fields: ["secret_text"],
    });
  });
});

describe("SignJwt keeps the families apart", () => {
  it("a private key cannot sign HS*, a secret cannot sign RS256, key text is never a secret", async () => {
    const pair = await client.generateKeyPair({ type: KeyType.RSA_2048, format: KeyFormat.PEM });
    const f = await failure(client.signJwt({ key: pair.privateKey, algorithm: JwtAlgorithm.HS256 }));
    expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["algorithm"] });
    expect(
      await failure(client.signJwt({ secret: { case: "secretText", value: "s" }, algorithm: JwtAlgorithm.RS256 })),
    ).toMatchObject({ fields: ["algorithm"] });
    expect(await failure(client.signJwt({ key: "not-a-key", algorithm: JwtAlgorithm.HS256 }))).toMatchObject({
      fields: ["key"],
    });
    expect(await failure(client.signJwt({}))).toMatchObject({ fields: ["key"] });
    const { token } = await client.signJwt({
      secret: { case: "secretData", value: new Uint8Array([1, 2, 3]) },
      algorithm: JwtAlgorithm.HS512,
    });
    expect(JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()).alg).toBe("HS512");
    const sig = createHmac("sha512", Buffer.from([1, 2, 3]))
      .update(token.split(".").slice(0, 2).join("."))
      .digest("base64url");
    expect(token.split(".")[2]).toBe(sig);
  });
});
