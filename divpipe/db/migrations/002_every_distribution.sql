-- Every distribution kept: a regular and a supplemental (or special, or
-- capital gain) dividend on one ex-date are two rows, keyed
-- (symbol, ex_date, distribution_type, seq). Existing rows become
-- distribution 1 of their ex-date; nothing is dropped.
-- The vocabulary is divpipe/sources/distributions.py's; the function below
-- mirrors its distribution_type() for CBOE's stored text, and a test keeps the
-- two equal.

CREATE FUNCTION pg_temp.divpipe_distribution_type(raw TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN w IS NULL THEN 'unknown'
        WHEN w IN ('cd', 'recurring') THEN 'regular'
        WHEN w IN ('sc', 'irregular') THEN 'special'
        WHEN w IN ('lt', 'st') THEN 'capital_gain'
        WHEN w = 'unknown' THEN 'unknown'
        WHEN strpos(w, 'supplement') > 0 THEN 'supplemental'
        WHEN strpos(w, 'special') > 0 OR strpos(w, 'extra') > 0 THEN 'special'
        WHEN strpos(w, 'capital gain') > 0 OR strpos(w, 'cap gain') > 0 THEN 'capital_gain'
        WHEN strpos(w, 'regular') > 0 OR strpos(w, 'ordinary') > 0 OR strpos(w, 'recurring') > 0
          OR strpos(w, 'cash') > 0 OR strpos(w, 'income') > 0 OR strpos(w, 'dividend') > 0 THEN 'regular'
        ELSE 'unknown'
    END
    FROM (SELECT btrim(regexp_replace(regexp_replace(lower(raw), '[_-]+', ' ', 'g'), '\s+', ' ', 'g')) AS w) AS t
$$;

-- CBOE's column held the page's own words: keep them as source_type.
ALTER TABLE raw_dividends_cboe RENAME COLUMN distribution_type TO source_type;
ALTER TABLE raw_dividends_snowball ADD COLUMN source_type TEXT;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['raw_dividends_nasdaq', 'raw_dividends_cboe', 'raw_yieldmax_dividends',
                             'raw_dividends_nyse', 'raw_dividends_snowball', 'raw_future_dividends']
    LOOP
        EXECUTE format(
            'ALTER TABLE %I'
            ' ADD COLUMN distribution_type TEXT NOT NULL DEFAULT %L CONSTRAINT %I CHECK'
            ' (distribution_type IN (%L, %L, %L, %L, %L)),'
            ' ADD COLUMN seq SMALLINT NOT NULL DEFAULT 1 CONSTRAINT %I CHECK (seq >= 1)',
            t, 'unknown', t || '_distribution_type_check',
            'regular', 'special', 'supplemental', 'capital_gain', 'unknown', t || '_seq_check');
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_pkey');
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (symbol, ex_date, distribution_type, seq)',
                       t, t || '_pkey');
    END LOOP;
END
$$;

-- The function once per distinct text (MATERIALIZED: otherwise the planner
-- evaluates it for every row, minutes on a large table); fresh statistics so
-- that the join is a hash join.
ANALYZE raw_dividends_cboe;

WITH m AS MATERIALIZED (
    SELECT source_type, pg_temp.divpipe_distribution_type(source_type) AS kind
    FROM (SELECT DISTINCT source_type FROM raw_dividends_cboe WHERE source_type IS NOT NULL) AS d
)
UPDATE raw_dividends_cboe AS c SET distribution_type = m.kind
FROM m
WHERE c.source_type = m.source_type AND m.kind <> 'unknown';

DROP FUNCTION pg_temp.divpipe_distribution_type(TEXT);

-- Pages a scraper skipped (fetch or parse still failing after the HTTP
-- layer's re-fetches). The next run of that source fetches them again,
-- even once they fell out of its window; a page that parses is removed.
CREATE TABLE scrape_skipped_pages (
    source          TEXT NOT NULL,
    page            TEXT NOT NULL,              -- what the scraper needs to fetch it again: a date, a ticker, a detail_key
    url             TEXT NOT NULL,
    reason          TEXT NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 1,
    first_failed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_failed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, page)
);
