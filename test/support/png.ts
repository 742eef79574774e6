/** PNG files written byte by byte, for tests of what decoders refuse (sharp would decode what it writes). */
import { deflateSync } from "node:zlib";

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, "latin1"), body]);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(typed));
  return Buffer.concat([head, typed, tail]);
}

/**
 * A grey PNG of `width` × `height` black pixels, of which only `rows` rows are actually written
 * (compressed): one row makes a header that claims gigapixels over a few bytes, every row a tiny
 * file that inflates to them. `bitDepth` 1 packs eight pixels a byte.
 */
export function bombPng(width: number, height: number, o: { rows?: number; bitDepth?: 1 | 8 } = {}): Buffer {
  const bitDepth = o.bitDepth ?? 8;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, 0, 0, 0, 0], 8); // grey, deflate, no filter, no interlace
  const row = Math.ceil((width * bitDepth) / 8) + 1;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(row * (o.rows ?? 1)), { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
