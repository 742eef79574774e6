-- A job_events row may hold a run of consecutive events (those one write produced): `events` of
-- them, ending at `seq`. A row of one holds the bare WatchJobResponse; a longer run holds each
-- message after its 4-byte big-endian length.
ALTER TABLE job_events ADD COLUMN events integer NOT NULL DEFAULT 1;
