-- A run made by --rerun-failed names the run it completes; every run records
-- the New York date its gate decided on, which a rerun reuses.
ALTER TABLE pipeline_runs ADD COLUMN rerun_of TEXT REFERENCES pipeline_runs (run_id) ON DELETE SET NULL;
ALTER TABLE pipeline_runs ADD COLUMN as_of DATE;
