"""Rows for the exported tables, made in SQL so a million prices take seconds (tests and bench)."""

from __future__ import annotations

import datetime as dt


def seed_prices(conn, n_symbols: int, first: dt.date, last: dt.date, prefix: str = "S") -> None:
    """Weekday prices for symbols PREFIX0000.. from `first` to `last`, values from a hash (deterministic)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO raw_stock_prices (symbol, date, open, high, low, close, adj_close, volume)
            SELECT sym, d::date,
                   round(h / 1000.0, 6), round(h / 1000.0 + 1.25, 6), round(h / 1000.0 - 0.5, 6),
                   round(h / 1000.0 + 0.123456, 6), round(h / 1000.0 + 0.1, 6), (h * 7) %% 1000000
            FROM (SELECT %s || lpad(i::text, 4, '0') AS sym FROM generate_series(0, %s - 1) AS i) AS s
            CROSS JOIN generate_series(%s::date, %s::date, interval '1 day') AS d
            CROSS JOIN LATERAL (SELECT abs(hashtext(sym || d::text)) %% 500000 + 1000 AS h) AS v
            WHERE extract(isodow FROM d) < 6
            ON CONFLICT DO NOTHING
            """,
            (prefix, n_symbols, first, last),
        )


def seed_small(conn) -> None:
    """A few rows in every exported table, with NULLs, empty strings, JSON and odd decimals."""
    seed_prices(conn, 5, dt.date(2024, 11, 20), dt.date(2025, 2, 10))
    with conn, conn.cursor() as cur:
        cur.execute("""
            INSERT INTO raw_dividends (symbol, ex_date, amount, payment_date, source) VALUES
              ('S0000', '2024-12-02', 0.12345678, '2024-12-15', 'yahoo'),
              ('S0001', '2025-01-10', 1.5, NULL, 'yahoo'),
              ('S0002', '2023-06-30', 0.00000001, '2023-07-10', 'nasdaq');
            INSERT INTO raw_stock_splits (symbol, split_date, ratio) VALUES ('S0003', '2024-06-10', 4);
            INSERT INTO raw_dividends_nasdaq (symbol, ex_date, amount, company_name, source_url) VALUES
              ('S0000', '2024-12-02', 0.12345678, 'Zero Corp', ''),
              ('S0004', '2025-02-03', 2.25, NULL, 'https://example.invalid/x');
            INSERT INTO raw_stocks (symbol, company, price, dividend_yield, market_cap, holdings,
                                    holdings_updated_at) VALUES
              ('S0000', 'Zero Corp', 12.345678, 0.04512345, 123456789012, NULL, NULL),
              ('S0001', '', NULL, NULL, NULL, '[{"symbol": "AAA", "weight": 0.25}]', '2025-01-02 03:04:05.678901+00');
            INSERT INTO raw_future_dividends (symbol, ex_date, amount, source) VALUES
              ('S0000', '2025-03-01', 0.13, 'nasdaq');
        """)
