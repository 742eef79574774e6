-- One outbox row per submit statement (a group commit of up to hundreds of jobs, or one batch of
-- up to 100,000 items) instead of one per task: its jobs' queued items are what the relay
-- publishes should the row outlive its submit by a few seconds. Two row writes per task (insert,
-- then delete once published) become two per group. Rows left by the old layout carry over.
ALTER TABLE job_outbox RENAME TO job_outbox_tasks;
CREATE TABLE job_outbox (
  id          bigserial PRIMARY KEY,
  job_ids     text[] NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now()
);
INSERT INTO job_outbox (job_ids) SELECT array_agg(DISTINCT job_id) FROM job_outbox_tasks HAVING count(*) > 0;
DROP TABLE job_outbox_tasks;
