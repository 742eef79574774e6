/** A TransformService client over connect's in-memory router transport, and its thread pool's closing. */
import { toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { inProcessClient } from "#test/support/in-process.js";
import { createTransformService, type TransformServiceOptions } from "../service.js";

/** A typed client whose calls run the real handlers in-process, and what closes its thread pool. */
export const transformClient = (options: TransformServiceOptions = {}) =>
  inProcessClient(TransformService, createTransformService(options));

/** A google.protobuf.Value as plain JSON. */
export const plain = (v: Value | undefined) => (v ? toJson(ValueSchema, v) : undefined);
