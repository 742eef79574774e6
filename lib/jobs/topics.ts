/** Notification topics on the job bus, and what the events notification carries. */
import { frameEvents, unframeEvents } from "./frames.js";

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
 * The events notification: the new events' serialized WatchJobResponse messages (framed as in
 * frameEvents), so a watcher can pass them on without a database read. Empty when they are too
 * large to carry.
 */
export function encodeEventNotice(events: Uint8Array[]): Uint8Array {
  return events.reduce((n, e) => n + 4 + e.length, 0) > maxNoticeBytes ? new Uint8Array() : frameEvents(events);
}

/** The events of a notification, in order; none if it carried none or is malformed. */
export const decodeEventNotice = unframeEvents;
