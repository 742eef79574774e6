/** A run of serialized events in one buffer: each message after its 4-byte big-endian length. */

/** Frames `events` into one buffer. */
export function frameEvents(events: Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(events.reduce((n, e) => n + 4 + e.length, 0));
  let at = 0;
  for (const e of events) {
    out.writeUInt32BE(e.length, at);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/** The events of a framed buffer, in order; none if it is malformed. */
export function unframeEvents(data: Uint8Array): Uint8Array[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const events: Uint8Array[] = [];
  for (let at = 0; at < buf.length; ) {
    if (at + 4 > buf.length) return [];
    const len = buf.readUInt32BE(at);
    if (at + 4 + len > buf.length) return [];
    events.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return events;
}
