-- The Parquet export's bookmark: what each lake directory last received, per partition.
-- A night rewrites a partition only when its fingerprint (row count and the sum of
-- 64-bit hashes of its rows' text) differs from the one recorded here.

CREATE TABLE export_bookmarks (
    lake        TEXT NOT NULL,                -- absolute path of the local lake (for S3: its staging copy)
    dataset     TEXT NOT NULL,                -- prices, dividends, ... (divpipe/export/datasets.py)
    partition   TEXT NOT NULL,                -- 'year=2024/month=3', or '' for a one-file dataset
    fingerprint TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    exported_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (lake, dataset, partition)
);

-- The export reads prices one month at a time; without this each month is a full scan.
CREATE INDEX IF NOT EXISTS raw_stock_prices_date ON raw_stock_prices (date);
