/** Notification topics on the job bus, and what the events notification carries. */
export const topics = {
  /** A job has new events; the payload is the events themselves (see encodeEventNotice), or empty. */
  events: (jobId: string) => `events.${jobId}`,
  /** A job was cancelled; workers abort its running items. */
  cancel: (jobId: string) => `cancel.${jobId}`,
  /** A job with a webhook reached a final state: its webhook is due. */
  webhookDue: (jobId: string) => `webhook.${jobId}`,
};

/** Events larger than this together are not carried in a notification; watchers read them from the database. */
const maxNoticeBytes = 64 * 1024;

/**
 * The events notification: the new events' serialized WatchJobResponse messages, each after a
 * 4-byte big-endian length, so a watcher can pass them on without a database read. Empty when
 * they are too large to carry.
 */
export function encodeEventNotice(events: Uint8Array[]): Uint8Array {
  const size = events.reduce((n, e) => n + 4 + e.length, 0);
  if (size > maxNoticeBytes) return new Uint8Array();
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of events) {
    out.writeUInt32BE(e.length, at);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/** The events of a notification, in order; none if it carried none or is malformed. */
export function decodeEventNotice(data: Uint8Array): Uint8Array[] {
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
