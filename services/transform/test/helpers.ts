/** A TransformService client over connect's in-memory router transport, and its thread pool's closing. */
import { toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { createTransformService, type TransformServiceOptions } from "../service.js";

/** A typed client whose calls run the real handlers in-process. */
export function transformClient(options: TransformServiceOptions = {}) {
  const { impl, close } = createTransformService(options);
  const client = createClient(
    TransformService,
    createRouterTransport(({ service }) => service(TransformService, impl)),
  );
  return { client, close };
}

/** A google.protobuf.Value as plain JSON. */
export const plain = (v: Value | undefined) => (v ? toJson(ValueSchema, v) : undefined);
