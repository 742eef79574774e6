/** connect-node's own in-process JSON echo: CryptoService/Hash answering with its input, over h2c. */
import * as http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { reportReady } from "#runtime/lifecycle.js";

const handler = connectNodeAdapter({
  routes: (router) =>
    router.service(CryptoService, {
      hash: (req) => ({ digest: req.input.case === "text" ? req.input.value : "" }),
    }),
});
const server = http2.createServer(handler);
server.listen(0, "127.0.0.1", () => reportReady("connect-echo", (server.address() as { port: number }).port));
