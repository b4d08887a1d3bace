"""Bulk upsert throughput: 1,000,000 price rows into an empty table, then the same again.

    .venv/bin/python bench/bench_upsert.py [--rows 1000000] [--compare]

Uses a scratch database on the embedded server (or on DATABASE_URL's server),
dropped afterwards. Prints rows/s for: insert into an empty table; the same
rows again (every row conflicts, nothing changed); the rows with every close
changed (every row conflicts and is updated). With --compare, also the
same rows through pandas `to_sql(method="multi")` (SQLAlchemy, into the empty
table) and row by row (`INSERT ... ON CONFLICT DO UPDATE`, one statement per
row, one transaction). `python -m bench --only upsert` runs the comparison as
the median of several runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from decimal import Decimal

import psycopg2

from bench.scratch import scratch_database
from divpipe.db.upsert import bulk_upsert


def price_rows(n: int, bump: Decimal = Decimal(0)):
    start = dt.date(2000, 1, 3)
    per_symbol = 2500  # ten years of trading days
    for i in range(n):
        close = Decimal(10 + i % 97) + Decimal("0.25") + bump
        yield {
            "symbol": f"SYM{i // per_symbol:05d}",
            "date": start + dt.timedelta(days=i % per_symbol),
            "open": close, "high": close + 1, "low": close - 1, "close": close,
            "adj_close": close, "volume": 1000 + i,
        }


COLUMNS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume")
ROW_SQL = (f"INSERT INTO raw_stock_prices ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
           " ON CONFLICT (symbol, date) DO UPDATE SET "
           + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[2:]))
TO_SQL_CHUNK = 1000  # rows per multi-row INSERT: pandas' own default is all rows in one statement


def empty(conn) -> None:
    with conn, conn.cursor() as cur:
        cur.execute("TRUNCATE raw_stock_prices")


def bulk(conn, rows: list[dict]) -> float:
    """Seconds for divpipe's bulk_upsert of `rows`."""
    began = time.perf_counter()
    bulk_upsert(conn, "raw_stock_prices", rows, ["symbol", "date"])
    return time.perf_counter() - began


def row_by_row(conn, rows: list[dict]) -> float:
    """Seconds for one INSERT ... ON CONFLICT DO UPDATE per row, one transaction."""
    began = time.perf_counter()
    with conn, conn.cursor() as cur:
        for r in rows:
            cur.execute(ROW_SQL, tuple(r[c] for c in COLUMNS))
    return time.perf_counter() - began


def to_sql_multi(url: str, frame) -> float:
    """Seconds for pandas `frame.to_sql(..., method="multi")` into the table (a plain INSERT: it cannot upsert)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        began = time.perf_counter()
        frame.to_sql("raw_stock_prices", engine, if_exists="append", index=False, method="multi",
                     chunksize=TO_SQL_CHUNK)
        return time.perf_counter() - began
    finally:
        engine.dispose()


def timed(label: str, conn, rows: list[dict]) -> None:
    began = time.perf_counter()
    result = bulk_upsert(conn, "raw_stock_prices", rows, ["symbol", "date"])
    took = time.perf_counter() - began
    print(f"{label:<38} {len(rows):>9,} rows  {took:6.2f} s  {len(rows) / took:>10,.0f} rows/s"
          f"  (inserted {result.inserted:,}, updated {result.updated:,})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--compare", action="store_true",
                        help='also to_sql(method="multi") and row-by-row INSERT ... ON CONFLICT')
    args = parser.parse_args()
    with scratch_database() as url:
        work = psycopg2.connect(url)
        rows = list(price_rows(args.rows))
        timed("insert into empty table", work, rows)
        timed("same rows again (all conflict, no change)", work, rows)
        changed = list(price_rows(args.rows, Decimal("0.5")))
        timed("changed rows (all conflict, all update)", work, changed)
        if args.compare:
            import pandas as pd

            def show(label: str, took: float) -> None:
                print(f"{label:<38} {len(rows):>9,} rows  {took:6.2f} s  {len(rows) / took:>10,.0f} rows/s")

            show("row by row, all conflict", row_by_row(work, rows))
            empty(work)
            show("row by row into empty table", row_by_row(work, rows))
            empty(work)
            show("to_sql(multi) into empty table", to_sql_multi(url, pd.DataFrame(rows, columns=COLUMNS)))
        work.close()


if __name__ == "__main__":
    main()
