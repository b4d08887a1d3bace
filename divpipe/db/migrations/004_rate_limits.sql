-- One row per rate-limited host (all Yahoo hosts share the key 'yahoo'):
-- the state every process of a run shares, so the per-host limit holds
-- across processes and a 429 seen by one pauses all. Written by
-- divpipe.net.ratestore.PostgresStore; the algorithm is divpipe.net.ratelimit.
-- Times are Unix seconds (double precision, like time.time()).
-- UNLOGGED: every request changes a row, and a WAL flush per request would
-- cost milliseconds; after a crash the table comes back empty, which only
-- forgets a pause and restarts the bucket full.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (
    key           TEXT PRIMARY KEY,
    tat           DOUBLE PRECISION NOT NULL DEFAULT 0,  -- GCRA theoretical arrival time
    paused_until  DOUBLE PRECISION NOT NULL DEFAULT 0,  -- nothing is sent before this
    generation    BIGINT NOT NULL DEFAULT 0,            -- bumped by every cool-down
    lowered_rate  DOUBLE PRECISION NOT NULL DEFAULT 0,  -- rate after the last decrease; 0: configured
    lowered_at    DOUBLE PRECISION NOT NULL DEFAULT 0,  -- recovery from lowered_rate starts here
    last_refusal  DOUBLE PRECISION NOT NULL DEFAULT 0,  -- start of the last wave of 429s
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
