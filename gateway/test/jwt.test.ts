/**
 * JWT bearer tokens and HTTP Basic at the gateway: a real JWKS served over HTTP (and one that
 * hangs), tokens signed with jose, and a backend that reports the identity it was given.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from "jose";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { tenantKey } from "#runtime/context.js";
import { register } from "#runtime/server.js";
import { startTestGateways, type TestGateways } from "./setup.js";

let bed: TestGateways;
let jwksServer: Server;
let hangingServer: Server;
let signingKey: CryptoKey;
let publicJwk: JWK;
let otherKey: CryptoKey;
let url: string; // JWKS by URL, Basic on
let staticUrl: string; // static keys, Basic off
let hangingUrl: string; // a JWKS that never answers
let apiKey: string;
/** Calls that reached the backend. */
let reached = 0;

const listen = async (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );

beforeAll(async () => {
  // Gateways are started below, each with its own JWT settings; none has an operator key.
  bed = await startTestGateways({
    replicas: 0,
    gateway: { adminKey: undefined },
    services: [
      register(CryptoService, {
        hash: (_req, ctx) => {
          reached++;
          return {
            digest: JSON.stringify({
              tenant: ctx.values.get(tenantKey),
              user: ctx.requestHeader.get("x-user-id"),
              key: ctx.requestHeader.get("x-flowforge-key-id"),
              scopes: ctx.requestHeader.get("x-flowforge-scopes"),
            }),
          };
        },
      }),
    ],
  });
  ({ privateKey: signingKey } = await generateKeyPair("ES256", { extractable: true }).then(async (pair) => {
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
    return pair;
  }));
  ({ privateKey: otherKey } = await generateKeyPair("ES256"));
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  hangingServer = createServer(() => {}); // accepts, never answers
  const jwksUrl = `${await listen(jwksServer)}/.well-known/jwks.json`;
  const hangingJwks = `${await listen(hangingServer)}/jwks`;
  const jwt = { issuer: "https://idp.example", audience: "flowforge" };
  url = await bed.another({ jwt: { ...jwt, jwksUrl }, basicAuth: true });
  staticUrl = await bed.another({ jwt: { ...jwt, keys: { keys: [publicJwk] }, claims: { tenant: "org" } } });
  hangingUrl = await bed.another({ jwt: { ...jwt, jwksUrl: hangingJwks, jwksTimeoutMs: 500 } });
  apiKey = (await bed.keys.create({ tenantId: "keyed", name: "", tier: Tier.PRO, scopes: ["*"] })).secret;
}, 60_000);

afterAll(async () => {
  await bed?.close();
  jwksServer?.close();
  hangingServer?.closeAllConnections();
  hangingServer?.close();
});

interface TokenOptions {
  claims?: Record<string, unknown>;
  key?: CryptoKey;
  issuer?: string;
  audience?: string;
  expires?: string | number;
  notBefore?: string | number;
}

async function token(o: TokenOptions = {}) {
  const jwt = new SignJWT({ tenant: "acme", tier: "pro", scope: "crypto jobs", ...o.claims })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setSubject("user-42")
    .setIssuer(o.issuer ?? "https://idp.example")
    .setAudience(o.audience ?? "flowforge")
    .setIssuedAt()
    .setExpirationTime(o.expires ?? "5m");
  if (o.notBefore !== undefined) jwt.setNotBefore(o.notBefore);
  return jwt.sign(o.key ?? signingKey);
}

/** POSTs a Hash through REST with `authorization`; answers the status and the body. */
async function hash(base: string, authorization: string, extra: Record<string, string> = {}) {
  const res = await fetch(`${base}/api/v1/crypto/hash`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization, ...extra },
    body: JSON.stringify({ algorithm: "sha256", text: "x" }),
  });
  const body = await res.json();
  return { status: res.status, body, seen: res.status === 200 ? JSON.parse(body.digest) : undefined };
}

describe("JWT bearer tokens", () => {
  it("a valid token from the JWKS URL: the claims become tenant, scopes and user; client identity headers are ignored", async () => {
    const res = await hash(url, `Bearer ${await token()}`, {
      "x-user-id": "forged",
      "x-flowforge-tenant": "forged",
      "x-flowforge-key-id": "forged",
    });
    expect(res.status).toBe(200);
    expect(res.seen).toEqual({ tenant: "acme", user: "user-42", key: "jwt:user-42", scopes: "crypto,jobs" });
  });

  it("static keys, with the tenant from a configured claim name", async () => {
    const res = await hash(staticUrl, `Bearer ${await token({ claims: { org: "globex" } })}`);
    expect(res.seen.tenant).toBe("globex");
  });

  it.each([
    ["expired", { expires: Math.floor(Date.now() / 1000) - 60 }, /expired/],
    ["not yet valid", { notBefore: "10m" }, /nbf/],
    ["from another issuer", { issuer: "https://evil.example" }, /iss/],
    ["for another audience", { audience: "someone-else" }, /aud/],
    ["signed by an unknown key", { key: "other" }, /not valid|no signing key/],
    ["without the tenant claim", { claims: { tenant: undefined } }, /no "tenant" claim/],
    ["with a tier that is not one", { claims: { tier: "gold" } }, /tier claim/],
  ] as const)("a token %s is 401 UNAUTHORIZED saying why, and never reaches the service", async (_, o, says) => {
    const options = { ...o, key: "key" in o ? otherKey : undefined } as TokenOptions;
    const before = reached;
    const res = await hash(url, `Bearer ${await token(options)}`);
    expect(reached).toBe(before);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHORIZED");
    expect(res.body.error.message).toMatch(says);
  });

  it("alg none and a shared-secret token signed with the public key's text never verify", async () => {
    const none = new UnsecuredJWT({ tenant: "acme" })
      .setIssuer("https://idp.example")
      .setAudience("flowforge")
      .setExpirationTime("5m")
      .encode();
    const unsecured = await hash(url, `Bearer ${none}`);
    expect(unsecured.status).toBe(401);
    expect(unsecured.body.error.message).toMatch(/algorithm is not accepted/);
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const hs = await new SignJWT({ tenant: "acme" })
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setIssuer("https://idp.example")
      .setAudience("flowforge")
      .setExpirationTime("5m")
      .sign(secret);
    const confused = await hash(url, `Bearer ${hs}`);
    expect(confused.status).toBe(401);
    expect(confused.body.error.message).toMatch(/algorithm is not accepted/);
  });

  it("a JWKS URL that hangs is 503 after its timeout, and the gateway answers API keys meanwhile", async () => {
    const started = Date.now();
    const [hung, keyed] = await Promise.all([
      hash(hangingUrl, `Bearer ${await token()}`),
      hash(hangingUrl, `Bearer ${apiKey}`),
    ]);
    expect(hung.status).toBe(503);
    expect(hung.body.error.code).toBe("SERVICE_UNAVAILABLE");
    expect(hung.body.error.message).toMatch(/JWKS/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(keyed.status).toBe(200);
    expect(keyed.seen).toMatchObject({ tenant: "keyed", user: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});

describe("HTTP Basic", () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

  it("takes the API key as the password where it is on", async () => {
    const res = await hash(url, basic("n8n", apiKey));
    expect(res.status).toBe(200);
    expect(res.seen.tenant).toBe("keyed");
    expect((await hash(url, basic("n8n", "ffk_0000000000000000_wrong"))).status).toBe(401);
  });

  it("is refused, saying so, where it is off (the default)", async () => {
    const res = await hash(staticUrl, basic("n8n", apiKey));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/Basic authentication is off/);
  });
});
