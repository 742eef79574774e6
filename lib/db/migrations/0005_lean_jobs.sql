-- jobs.seq comes from a sequence, so it is unique without an index of its own; listing pages by
-- (tenant_id, seq), which jobs_tenant_seq serves. One index fewer to maintain per submit.
ALTER TABLE jobs DROP CONSTRAINT jobs_seq_key;
