-- The pipeline's tables. Dates are DATE, money NUMERIC, instants TIMESTAMPTZ (UTC).
-- Every table has the key its upserts are keyed on.

CREATE TABLE raw_stocks (
    symbol               TEXT PRIMARY KEY,
    company              TEXT,
    exchange             TEXT,
    quote_type           TEXT,
    sector               TEXT,
    industry             TEXT,
    currency             TEXT,
    price                NUMERIC(18, 6),
    dividend_yield       NUMERIC(12, 8),          -- a fraction: 0.045 means 4.5 %
    market_cap           BIGINT,
    aum                  BIGINT,
    expense_ratio        NUMERIC(10, 6),          -- a fraction
    holdings             JSONB,
    holdings_updated_at  TIMESTAMPTZ,
    company_updated_at   TIMESTAMPTZ,
    company_attempted_at TIMESTAMPTZ,
    prices_updated_at    TIMESTAMPTZ,
    discovered_from      TEXT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE raw_stock_prices (
    symbol    TEXT NOT NULL,
    date      DATE NOT NULL,
    open      NUMERIC(18, 6),
    high      NUMERIC(18, 6),
    low       NUMERIC(18, 6),
    close     NUMERIC(18, 6),
    adj_close NUMERIC(18, 6),
    volume    BIGINT,
    PRIMARY KEY (symbol, date)
);

CREATE TABLE raw_dividends (
    symbol           TEXT NOT NULL,
    ex_date          DATE NOT NULL,
    amount           NUMERIC(18, 8),
    payment_date     DATE,
    record_date      DATE,
    declaration_date DATE,
    source           TEXT NOT NULL DEFAULT 'yahoo',
    PRIMARY KEY (symbol, ex_date)
);

CREATE TABLE raw_stock_splits (
    symbol     TEXT NOT NULL,
    split_date DATE NOT NULL,
    ratio      NUMERIC(18, 8) NOT NULL,
    PRIMARY KEY (symbol, split_date)
);

-- One table per scraper. Shared columns first, then the source's own.
CREATE TABLE raw_dividends_nasdaq (
    symbol                    TEXT NOT NULL,
    ex_date                   DATE NOT NULL,
    amount                    NUMERIC(18, 8),
    payment_date              DATE,
    record_date               DATE,
    declaration_date          DATE,
    company_name              TEXT,
    indicated_annual_dividend NUMERIC(18, 8),
    source_url                TEXT,
    scraped_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date)
);

CREATE TABLE raw_dividends_cboe (
    symbol            TEXT NOT NULL,
    ex_date           DATE NOT NULL,
    amount            NUMERIC(18, 8),
    payment_date      DATE,
    record_date       DATE,
    declaration_date  DATE,
    company_name      TEXT,
    frequency         TEXT,
    distribution_type TEXT,
    firm_name         TEXT,
    detail_key        TEXT,                       -- symbols|declaration_dt|firm_name of the detail page
    source_url        TEXT,
    scraped_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date)
);
CREATE INDEX raw_dividends_cboe_detail_key ON raw_dividends_cboe (detail_key);

CREATE TABLE raw_yieldmax_dividends (
    symbol           TEXT NOT NULL,
    ex_date          DATE NOT NULL,
    amount           NUMERIC(18, 8),
    payment_date     DATE,
    record_date      DATE,
    declaration_date DATE,
    roc_pct          NUMERIC(10, 4),              -- return of capital, percent of the distribution
    source_url       TEXT,
    scraped_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date)
);

CREATE TABLE raw_dividends_nyse (
    symbol           TEXT NOT NULL,
    ex_date          DATE NOT NULL,
    amount           NUMERIC(18, 8),              -- the NYSE list carries no amount: always NULL
    payment_date     DATE,
    record_date      DATE,
    declaration_date DATE,
    security_name    TEXT,
    source_url       TEXT,
    scraped_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date)
);

CREATE TABLE raw_dividends_snowball (
    symbol           TEXT NOT NULL,
    ex_date          DATE NOT NULL,
    amount           NUMERIC(18, 8),
    payment_date     DATE,
    record_date      DATE,
    declaration_date DATE,
    company_name     TEXT,
    currency         TEXT,
    frequency        TEXT,
    status           TEXT,
    category         TEXT,
    source_url       TEXT,
    scraped_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date)
);

CREATE TABLE raw_future_dividends (
    symbol           TEXT NOT NULL,
    ex_date          DATE NOT NULL,
    amount           NUMERIC(18, 8),
    payment_date     DATE,
    record_date      DATE,
    declaration_date DATE,
    source           TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date)
);

CREATE TABLE raw_holdings_history (
    symbol         TEXT NOT NULL,
    as_of_date     DATE NOT NULL,
    holdings       JSONB NOT NULL,
    holdings_count INTEGER NOT NULL,
    PRIMARY KEY (symbol, as_of_date)
);

CREATE TABLE raw_excluded_symbols (
    symbol               TEXT PRIMARY KEY,
    reason               TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    first_failed_at      TIMESTAMPTZ,
    last_failed_at       TIMESTAMPTZ,
    excluded             BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE pipeline_runs (
    run_id      TEXT PRIMARY KEY,
    driver      TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      TEXT NOT NULL,                  -- running, success, warning, failed, interrupted, skipped
    exit_code   INTEGER,
    rows_written BIGINT,
    log_path    TEXT,
    error       TEXT
);

CREATE TABLE task_runs (
    run_id       TEXT NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    task         TEXT NOT NULL,
    driver       TEXT NOT NULL,
    phase        TEXT NOT NULL,
    critical     BOOLEAN NOT NULL,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    status       TEXT NOT NULL,                 -- success, failed, skipped, interrupted
    exit_code    INTEGER,
    rows_written BIGINT,
    log_path     TEXT,
    error        TEXT,
    PRIMARY KEY (run_id, task)
);
