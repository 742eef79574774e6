import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, RequestInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { decodeStatus, encodeStatus, invalidArgument, isRetryable, toPublicError, withRequestId } from "../errors.js";

describe("errors", () => {
  it("round-trips a field violation and the request id through google.rpc.Status", () => {
    const err = withRequestId(invalidArgument("items[2]", "must be a HashRequest"), "req-9");
    const back = decodeStatus(err.code, err.rawMessage, encodeStatus(err));
    expect(back.code).toBe(Code.InvalidArgument);
    expect(back.rawMessage).toBe("items[2]: must be a HashRequest");
    expect(back.findDetails(BadRequestSchema)[0].fieldViolations[0]).toMatchObject({
      field: "items[2]",
      description: "must be a HashRequest",
    });
    expect(back.findDetails(RequestInfoSchema)[0].requestId).toBe("req-9");
  });

  it("hides internal detail, and calls connection failures unavailable (retryable)", () => {
    const internal = toPublicError(new Error("secret stack detail"));
    expect(internal.code).toBe(Code.Internal);
    expect(internal.rawMessage).toBe("internal error");
    const down = toPublicError(
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
    );
    expect(down.code).toBe(Code.Unavailable);
    expect(down.rawMessage).not.toContain("5432");
    expect(
      toPublicError(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }))
        .code,
    ).toBe(Code.Unavailable);
    expect(isRetryable(down)).toBe(true);
    expect(isRetryable(invalidArgument("x", "y"))).toBe(false);
    expect(toPublicError(new ConnectError("kept", Code.NotFound)).rawMessage).toBe("kept");
  });
});
