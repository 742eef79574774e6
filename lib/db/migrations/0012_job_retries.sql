-- RetryJob: the job made to run a finished job's failed items again names that job (one retry
-- per job), and each of its items names the item it retries.
ALTER TABLE jobs ADD COLUMN retry_of text REFERENCES jobs (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX jobs_retry_of ON jobs (retry_of) WHERE retry_of IS NOT NULL;
ALTER TABLE job_items ADD COLUMN source_idx integer;
