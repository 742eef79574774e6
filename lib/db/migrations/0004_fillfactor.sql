-- Jobs and items are updated in place as they run (counts, state, results). Free space on each
-- page lets PostgreSQL keep those updates on the page without touching any index (HOT).
ALTER TABLE jobs SET (fillfactor = 70);
ALTER TABLE job_items SET (fillfactor = 70);
