/** A CryptoService client running the real handlers in-process. */
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { inProcessClient } from "#test/support/in-process.js";
import { createCryptoService, type CryptoServiceOptions } from "../service.js";

export { failure } from "#test/support/in-process.js";

/** A typed client whose calls run the real handlers in-process. */
export const cryptoClient = (options: CryptoServiceOptions = {}) =>
  inProcessClient(CryptoService, { impl: createCryptoService(options) }).client;

/** Bytes from hex. */
export const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
