/** Notification topics on the job bus. */
export const topics = {
  /** A job has new events; the payload is its last sequence. */
  events: (jobId: string) => `events.${jobId}`,
  /** A job was cancelled; workers abort its running items. */
  cancel: (jobId: string) => `cancel.${jobId}`,
  /** A job with a webhook reached a final state: its webhook is due. */
  webhookDue: (jobId: string) => `webhook.${jobId}`,
};
