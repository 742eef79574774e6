/** An ImageService client over connect's in-memory transport, and images made for the tests (no binaries shipped). */
import sharp from "sharp";
import { create } from "@bufbuild/protobuf";
import { ImageService, type Operation, OperationSchema } from "#gen/flowforge/image/v1/image_pb.js";
import { inProcessClient } from "#test/support/in-process.js";
export { bombPng } from "#test/support/png.js";
import { createImageService, type ImageServiceOptions } from "../service.js";

/** A typed client whose calls run the real handlers in-process. */
export const imageClient = (options: ImageServiceOptions = {}) =>
  inProcessClient(ImageService, createImageService(options));

/** An operation from its kind and fields: `op("resize", { width: 10 })`. */
export const op = (kind: string, value: object = {}): Operation =>
  create(OperationSchema, { operation: { case: kind, value } as Operation["operation"] });

/** A file field holding `data` inline. */
export const inline = (data: Uint8Array) => ({ source: { case: "data" as const, value: data } });

/** The bytes of an answer's inline image. */
export function bytesOf(image: { source: { case?: string; value?: unknown } } | undefined): Uint8Array {
  if (image?.source.case !== "data") throw new Error(`expected an inline image, got ${image?.source.case}`);
  return image.source.value as Uint8Array;
}

/** A plain image of one colour. */
export const solid = (width: number, height: number, colour: string, format: "png" | "jpeg" = "png") =>
  sharp({ create: { width, height, channels: 4, background: colour } })
    [format]()
    .toBuffer();

/** An image drawn from SVG (rendered by libvips), encoded as `format`. */
export const drawn = (width: number, height: number, body: string, format: "png" | "jpeg" = "png") =>
  sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`))
    [format]()
    .toBuffer();

/** A photograph-like scene: a gradient sky, a sun, hills and a line of text; `variant` moves things. */
export const scene = (width: number, height: number, variant = 0, format: "png" | "jpeg" = "jpeg") =>
  drawn(
    width,
    height,
    `<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${variant ? "#203050" : "#4a90d9"}"/><stop offset="1" stop-color="#f0e0c0"/></linearGradient></defs>
     <rect width="100%" height="100%" fill="url(#g)"/>
     <circle cx="${width * (variant ? 0.2 : 0.75)}" cy="${height * 0.3}" r="${height * 0.15}" fill="#ffd040"/>
     <path d="M0 ${height * 0.7} Q ${width * 0.3} ${height * (variant ? 0.9 : 0.45)} ${width * 0.6} ${height * 0.7} T ${width} ${height * 0.65} V ${height} H 0 Z" fill="#3a7d2c"/>
     <text x="${width * 0.05}" y="${height * 0.95}" font-family="DejaVu Sans" font-size="${height / 12}" fill="#222">${variant ? "Night over the valley" : "FlowForge test scene"}</text>`,
    format,
  );

/** An animated GIF of one frame per colour, each `delay` ms. */
export async function animatedGif(colours: string[], width = 40, height = 30, delay = 100): Promise<Buffer> {
  const frames = await Promise.all(colours.map((c) => solid(width, height, c)));
  return sharp(frames, { join: { animated: true } })
    .gif({ delay: colours.map(() => delay), loop: 0 })
    .toBuffer();
}

/** A GIF of `frames` 1 × 1 frames, written byte by byte (sharp would decode them all to build it). */
export function manyFrameGif(frames: number): Buffer {
  const header = Buffer.from([
    ...Buffer.from("GIF89a"),
    ...[1, 0, 1, 0, 0x80, 0, 0], // 1 × 1, a global table of 2 colours
    ...[0, 0, 0, 255, 255, 255],
    ...[0x21, 0xff, 0x0b, ...Buffer.from("NETSCAPE2.0"), 3, 1, 0, 0, 0], // loop for ever
  ]);
  const frame = Buffer.from([
    ...[0x21, 0xf9, 4, 0, 10, 0, 0, 0], // 100 ms
    ...[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0], // the frame: 1 × 1 at 0, 0
    ...[2, 2, 0x4c, 0x01, 0], // LZW: one pixel of colour 0
  ]);
  return Buffer.concat([header, ...Array.from({ length: frames }, () => frame), Buffer.from([0x3b])]);
}

/** The RGBA of the pixel at (x, y) of an encoded image. */
export async function pixel(image: Uint8Array, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * 4;
  return [...data.subarray(at, at + 4)];
}

/** Whether two colours are within `tolerance` on every channel. */
export const near = (a: number[], b: number[], tolerance = 8) =>
  a.every((v, i) => Math.abs(v - (b[i] ?? v)) <= tolerance);
