import { describe, expect, it } from "vitest";
import { isPrivateAddress, secretKey, sign, webhookUrlProblem } from "../webhooks.js";

describe("Standard Webhooks signing", () => {
  it("matches the example in the Standard Webhooks specification", () => {
    const signature = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
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
    for (const url of ["http://127.0.0.1:8080/x", "http://localhost/x", "http://10.1.2.3/x", "http://172.20.0.1/x", "http://192.168.1.1/x", "http://169.254.169.254/latest", "http://[::1]/x", "http://[fe80::1]/x", "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x"]) {
      expect(await webhookUrlProblem(url, false), url).toMatch(/private|resolve/);
    }
    expect(await webhookUrlProblem("ftp://example.com/x", false)).toBe("must be http or https");
    expect(await webhookUrlProblem("https://user:pw@example.com/x", false)).toBe("must not carry credentials");
    expect(await webhookUrlProblem("not a url", false)).toBe("not a URL");
    expect(await webhookUrlProblem("https://93.184.216.34/hook", false)).toBeUndefined();
    expect(await webhookUrlProblem("http://127.0.0.1:8080/x", true)).toBeUndefined();
  });

  it("classifies addresses", () => {
    expect(isPrivateAddress("8.8.8.8")).toBe(false);
    expect(isPrivateAddress("2606:4700:4700::1111")).toBe(false);
    expect(isPrivateAddress("100.64.0.1")).toBe(true);
    expect(isPrivateAddress("fd12::1")).toBe(true);
  });
});
