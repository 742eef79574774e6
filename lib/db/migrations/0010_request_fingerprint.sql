-- What a job was submitted with (method, items, webhook), hashed: a submit that reuses an
-- idempotency key with a different request is refused rather than answered with the first job.
ALTER TABLE jobs ADD COLUMN request_hash text;
