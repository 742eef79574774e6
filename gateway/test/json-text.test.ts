/** toJsonText writes exactly what protobuf-es's toJsonString writes, large bytes fields included. */
import { create, toJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RecognizeResponseSchema } from "#gen/flowforge/ocr/v1/ocr_pb.js";
import { RenderPagesResponseSchema } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { GetJobResponseSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { gatewayJsonOptions, toJsonText } from "../transports/json-options.js";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed) & 0xff);

describe("toJsonText", () => {
  it("equals toJsonString for large and small bytes in oneofs, nested messages and lists, and leaves the message as it was", () => {
    const render = create(RenderPagesResponseSchema, {
      pages: [
        {
          page: 1,
          width: 10,
          height: 20,
          image: { source: { case: "data", value: bytes(100_000, 7) }, contentType: "image/png" },
        },
        { page: 2, image: { source: { case: "data", value: bytes(10, 3) } } },
        { page: 3, image: { source: { case: "blobId", value: "blob_x" } } },
      ],
    });
    const ocr = create(RecognizeResponseSchema, {
      text: "t",
      searchablePdf: { source: { case: "data", value: bytes(50_000, 11) } },
    });
    // A job's result is an Any: its bytes are the message it holds, written as that message.
    const job = create(GetJobResponseSchema, {
      job: { id: "j", items: [{ index: 0, result: anyPack(RecognizeResponseSchema, ocr) }] },
    });
    for (const [schema, message] of [
      [RenderPagesResponseSchema, render],
      [RecognizeResponseSchema, ocr],
      [GetJobResponseSchema, job],
    ] as const) {
      for (const options of [
        { registry: gatewayJsonOptions.registry },
        { alwaysEmitImplicit: true, registry: gatewayJsonOptions.registry },
      ]) {
        const expected = toJsonString(schema as never, message as never, options);
        expect(toJsonText(schema as never, message as never, options)).toBe(expected);
        // The message keeps its bytes.
        expect(toJsonString(schema as never, message as never, options)).toBe(expected);
      }
    }
  });
});

describe("fromJsonValue", () => {
  it("reads what fromJson reads, large base64 in oneofs, nested messages and lists included; refuses what it refuses", async () => {
    const { fromJson, equals } = await import("@bufbuild/protobuf");
    const { MergeRequestSchema } = await import("#gen/flowforge/pdf/v1/pdf_pb.js");
    const { RecognizeRequestSchema } = await import("#gen/flowforge/ocr/v1/ocr_pb.js");
    const { fromJsonValue } = await import("../transports/json-options.js");
    const big = Buffer.from(bytes(30_000, 13)).toString("base64");
    const urlSafe = Buffer.from(bytes(30_000, 17)).toString("base64url");
    const mixed = `${big.slice(0, 20_000).replaceAll("+", "-")}${big.slice(20_000)}`; // protobuf-es reads both alphabets at once
    expect(mixed).toMatch(/-.*\+/);
    for (const [schema, json] of [
      [
        MergeRequestSchema,
        { documents: [{ data: big }, { data: "AAEC" }, { blobId: "blob_x" }, { data: urlSafe }, { data: mixed }] },
      ],
      [RecognizeRequestSchema, { image: { data: big }, languages: ["eng"] }],
    ] as const) {
      const expected = fromJson(schema as never, structuredClone(json) as never, gatewayJsonOptions);
      const got = fromJsonValue(schema as never, structuredClone(json) as never, gatewayJsonOptions);
      expect(equals(schema as never, got as never, expected as never)).toBe(true);
    }
    const bad = { image: { data: `${big}!!` } };
    expect(() => fromJsonValue(RecognizeRequestSchema, structuredClone(bad), gatewayJsonOptions)).toThrow();
    expect(() => fromJson(RecognizeRequestSchema, structuredClone(bad), gatewayJsonOptions)).toThrow();
  });
});
