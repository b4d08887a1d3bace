-- The first day the source (Yahoo's chart metadata) has a bar for the symbol.
-- The backfill's gap plan counts no gap before it: a symbol listed in the
-- middle of a window is complete from its first bar (docs/jobs.md, Backfill).
ALTER TABLE raw_stocks ADD COLUMN first_trade_date DATE;
