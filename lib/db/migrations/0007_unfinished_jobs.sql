-- Jobs not yet finished (QUEUED = 1, RUNNING = 2), for the start-up recovery that republishes
-- their queued items when the job bus kept nothing across a restart (the in-process bus).
CREATE INDEX jobs_unfinished ON jobs (id) WHERE state IN (1, 2);
