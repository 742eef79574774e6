import { describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { secretKey, sign, webhookUrlProblem } from "../webhooks.js";
import { addressProblem, parseCidrs, postToTarget, resolveWebhookTarget } from "../webhook-target.js";
import { jobsConfig } from "#config/index.js";

describe("Standard Webhooks signing", () => {
  it("matches the example in the Standard Webhooks specification", () => {
    const signature = sign(
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("accepts whsec_ secrets of 24 to 64 bytes only", () => {
    expect(secretKey(`whsec_${Buffer.alloc(24).toString("base64")}`)?.length).toBe(24);
    expect(secretKey(`whsec_${Buffer.alloc(16).toString("base64")}`)).toBeUndefined();
    expect(secretKey(Buffer.alloc(32).toString("base64"))).toBeUndefined();
  });
});

describe("webhook targets", () => {
  it("refuses private, loopback, link-local and non-http targets unless allowed", async () => {
    for (const url of [
      "http://127.0.0.1:8080/x",
      "http://localhost/x",
      "http://10.1.2.3/x",
      "http://172.20.0.1/x",
      "http://192.168.1.1/x",
      "http://169.254.169.254/latest",
      "http://[::1]/x",
      "http://[fe80::1]/x",
      "http://[::ffff:127.0.0.1]/x",
      "http://0.0.0.0/x",
    ]) {
      expect(await webhookUrlProblem(url, false), url).toMatch(/private|special-purpose|resolve/);
    }
    expect(await webhookUrlProblem("ftp://example.com/x", false)).toBe("must be http or https");
    expect(await webhookUrlProblem("https://user:pw@example.com/x", false)).toBe("must not carry credentials");
    expect(await webhookUrlProblem("not a url", false)).toBe("not a URL");
    expect(await webhookUrlProblem("https://93.184.216.34/hook", false)).toBeUndefined();
    expect(await webhookUrlProblem("http://127.0.0.1:8080/x", true)).toBeUndefined();
  });

  it("refuses every special-purpose range, IPv4 embedded in IPv6 decoded", () => {
    const refused = [
      "0.0.0.0",
      "10.0.0.1",
      "100.64.0.1",
      "127.0.0.1",
      "169.254.169.254",
      "172.16.0.1",
      "192.0.0.1",
      "192.0.2.1",
      "192.168.0.1",
      "198.18.0.1",
      "198.51.100.1",
      "203.0.113.1",
      "224.0.0.1",
      "240.0.0.1",
      "255.255.255.255",
      "::",
      "::1",
      "::7f00:1",
      "::a9fe:a9fe",
      "::ffff:127.0.0.1",
      "::ffff:a9fe:a9fe",
      "64:ff9b::a9fe:a9fe",
      "64:ff9b::7f00:1",
      "64:ff9b:1::808:808",
      "2002:a9fe:a9fe::",
      "2002:7f00:1::1",
      "2001::1",
      "2001:db8::1",
      "2001:2::1",
      "100::1",
      "fc00::1",
      "fd12::1",
      "fe80::1",
      "fec0::1",
      "ff02::1",
      "3fff::1",
      "5f00::1",
    ];
    for (const address of refused) expect(addressProblem(address), address).toMatch(/special-purpose/);
    for (const address of ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]) {
      expect(addressProblem(address), address).toBeUndefined();
    }
  });

  it("an operator's CIDR blocks allow those private targets only, pinned like public ones", async () => {
    const blocks = parseCidrs("10.0.0.0/8, 192.168.1.0/24 ,fd00::/8");
    expect(await webhookUrlProblem("http://10.1.2.3:5678/webhook/abc", blocks)).toBeUndefined();
    expect(await webhookUrlProblem("http://192.168.1.20/x", blocks)).toBeUndefined();
    expect(await webhookUrlProblem("http://[fd12::1]/x", blocks)).toBeUndefined();
    expect(await webhookUrlProblem("http://[::ffff:10.0.0.9]/x", blocks)).toBeUndefined(); // mapped IPv4 counts as IPv4
    for (const url of ["http://192.168.2.1/x", "http://127.0.0.1/x", "http://169.254.169.254/x", "http://[fe80::1]/x"])
      expect(await webhookUrlProblem(url, blocks), url).toMatch(/private|special-purpose/);
    // A name resolving inside a block is pinned to the address checked.
    const target = await resolveWebhookTarget("http://n8n.internal:5678/hook", blocks, async () => [
      { address: "10.9.8.7", family: 4 },
    ]);
    expect(target).toMatchObject({ address: { address: "10.9.8.7", family: 4 } });
    expect(() => parseCidrs("10.0.0.0/8,10.0.0.1")).toThrow(/"10.0.0.1" is not a CIDR block/);
    expect(() => jobsConfig({ FLOWFORGE_WEBHOOK_ALLOWED_CIDRS: "10.0.0.0/33" })).toThrow(
      /FLOWFORGE_WEBHOOK_ALLOWED_CIDRS/,
    );
    expect(jobsConfig({ FLOWFORGE_WEBHOOK_ALLOWED_CIDRS: "10.0.0.0/8" }).allowPrivateWebhooks).toHaveLength(1);
    expect(jobsConfig({}).allowPrivateWebhooks).toBe(false);
  });

  it("a host name is resolved once, every address checked, and the checked address pinned", async () => {
    let lookups = 0;
    const resolver = (addresses: string[]) => async () => {
      lookups++;
      return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    };
    const target = await resolveWebhookTarget("https://hooks.example/x", false, resolver(["93.184.216.34"]));
    expect(target).toMatchObject({ address: { address: "93.184.216.34", family: 4 } });
    expect(lookups).toBe(1);
    // One private address among public ones refuses the host.
    expect(
      await resolveWebhookTarget("https://hooks.example/x", false, resolver(["93.184.216.34", "10.0.0.1"])),
    ).toMatchObject({ problem: expect.stringMatching(/10\.0\.0\.1/) });
    expect(await resolveWebhookTarget("http://[::7f00:1]/x", false)).toMatchObject({
      problem: expect.stringMatching(/special-purpose/),
    });
  });

  it("the request goes to the pinned address, never to a second lookup of the name", async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      received.push(`${req.headers.host} ${req.url}`);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      // rebind.invalid does not resolve: only the pinned address can be reached.
      const target = {
        url: new URL(`http://rebind.invalid:${port}/hook`),
        address: { address: "127.0.0.1", family: 4 },
      };
      expect((await postToTarget(target, {}, "{}", 5000)).status).toBe(200);
      expect(received).toEqual([`rebind.invalid:${port} /hook`]);
      await expect(postToTarget({ url: target.url }, {}, "{}", 5000)).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
    } finally {
      server.close();
    }
  });
});
