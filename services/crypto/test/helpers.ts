/** A CryptoService client over connect's in-memory router transport. */
import { createClient, createRouterTransport, ConnectError, type Code } from "@connectrpc/connect";
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { createCryptoService, type CryptoServiceOptions } from "../service.js";

/** A typed client whose calls run the real handlers in-process. */
export function cryptoClient(options: CryptoServiceOptions = {}) {
  return createClient(
    CryptoService,
    createRouterTransport(({ service }) => service(CryptoService, createCryptoService(options))),
  );
}

/** Awaits a call that must fail; returns its code and violated fields. */
export async function failure(call: Promise<unknown>): Promise<{ code: Code; fields: string[]; message: string }> {
  try {
    await call;
  } catch (e) {
    const err = ConnectError.from(e);
    const fields = err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
    return { code: err.code, fields, message: err.rawMessage };
  }
  throw new Error("expected the call to fail");
}

/** Bytes from hex. */
export const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
