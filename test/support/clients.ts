/** Real clients of every protocol the gateway speaks, for tests and the bench. */
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  toBinary,
  type DescMethodUnary,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createFlowForgeClient } from "../../web/src/client.js";
import type { DescService } from "@bufbuild/protobuf";
import { decodeStatus } from "#runtime/errors.js";
import { catalogRegistry } from "../../services/catalog.js";

const bearer =
  (key: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };

/** A typed Connect-protocol client (connect-node, HTTP/1.1, JSON unless `binary`). */
export function connectClient<S extends DescService>(
  service: S,
  baseUrl: string,
  key?: string,
  binary = false,
): Client<S> {
  return createClient(
    service,
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: binary,
      interceptors: key ? [bearer(key)] : [],
      jsonOptions: { registry: catalogRegistry() },
    }),
  );
}

/** A typed gRPC-Web client: the web console's own client (connect-web over fetch). */
export function grpcWebClient<S extends DescService>(service: S, baseUrl: string, key?: string): Client<S> {
  return createFlowForgeClient(service, { baseUrl, apiKey: key, protocol: "grpc-web" });
}

/** One unary call with @grpc/grpc-js; failures come back as ConnectError with their details. */
export function grpcJsUnary<I extends DescMessage, O extends DescMessage>(
  address: string,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  headers: Record<string, string> = {},
  options: grpc.CallOptions = {},
): Promise<MessageShape<O>> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return new Promise<MessageShape<O>>((resolve, reject) => {
    client.makeUnaryRequest(
      `/${method.parent.typeName}/${method.name}`,
      (m: MessageInitShape<I>) => Buffer.from(toBinary(method.input, create(method.input, m))),
      (b: Buffer) => fromBinary(method.output, b),
      request,
      md,
      options,
      (err, res) => {
        if (err) {
          const bin = err.metadata?.get("grpc-status-details-bin")[0];
          const e = decodeStatus(err.code, err.details, bin instanceof Buffer ? bin : undefined);
          e.metadata.set("x-request-id", String(err.metadata?.get("x-request-id")[0] ?? ""));
          reject(e);
        } else resolve(res!);
      },
    );
  }).finally(() => client.close());
}

/** Awaits a call that must fail and returns its ConnectError (defined beside the in-process client). */
export { errorOf } from "./in-process.js";

/** A JSON POST to a mesh's gateway with its admin key; answers the status and the parsed body. */
export async function postJson(
  mesh: { url: string; adminKey: string },
  path: string,
  body: object,
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers of every method's shape
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${mesh.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
