-- Polygon/Massive dividends (scripts/scrape_polygon_dividends.py), keyed like every
-- scraped table: one row per distribution. Polygon gives each distribution an id;
-- the scraper uses it to move a corrected row (new ex-date or type) instead of
-- adding a second one, so polygon_id is unique too.
CREATE TABLE raw_dividends_polygon (
    symbol            TEXT NOT NULL,
    ex_date           DATE NOT NULL,
    distribution_type TEXT NOT NULL DEFAULT 'unknown'
        CONSTRAINT raw_dividends_polygon_distribution_type_check
        CHECK (distribution_type IN ('regular', 'special', 'supplemental', 'capital_gain', 'unknown')),
    seq               SMALLINT NOT NULL DEFAULT 1 CONSTRAINT raw_dividends_polygon_seq_check CHECK (seq >= 1),
    amount            NUMERIC(18, 8),
    payment_date      DATE,
    record_date       DATE,
    declaration_date  DATE,
    polygon_id        TEXT NOT NULL CONSTRAINT raw_dividends_polygon_id_key UNIQUE,
    source_type       TEXT,          -- Polygon's own word: recurring, special, ... or CD, SC, LT, ST
    frequency         SMALLINT,      -- distributions a year (0: not recurring)
    currency          TEXT,
    source_url        TEXT,          -- the page, never with a key
    scraped_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date, distribution_type, seq)
);
