/** A bare @grpc/grpc-js server answering CryptoService/Hash with its input: grpc-js's own ceiling. */
import * as grpc from "@grpc/grpc-js";
import { reportReady } from "#runtime/lifecycle.js";

const server = new grpc.Server();
const identity = (b: Buffer) => b;
server.addService(
  {
    hash: {
      path: "/flowforge.crypto.v1.CryptoService/Hash",
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  { hash: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  reportReady("grpc-js-echo", port);
});
