"""Bulk upsert throughput: 1,000,000 price rows into an empty table, then the same again.

    .venv/bin/python bench/bench_upsert.py [--rows 1000000]

Uses a scratch database on the embedded server (or on DATABASE_URL's server),
dropped afterwards. Prints rows/s for: insert into an empty table; the same
rows again (every row conflicts, nothing changed); the rows with every close
changed (every row conflicts and is updated).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from decimal import Decimal

import psycopg2
from scratch import scratch_database

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


def timed(label: str, conn, rows: list[dict]) -> None:
    began = time.perf_counter()
    result = bulk_upsert(conn, "raw_stock_prices", rows, ["symbol", "date"])
    took = time.perf_counter() - began
    print(f"{label:<38} {len(rows):>9,} rows  {took:6.2f} s  {len(rows) / took:>10,.0f} rows/s"
          f"  (inserted {result.inserted:,}, updated {result.updated:,})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with scratch_database() as url:
        work = psycopg2.connect(url)
        rows = list(price_rows(args.rows))
        timed("insert into empty table", work, rows)
        timed("same rows again (all conflict, no change)", work, rows)
        changed = list(price_rows(args.rows, Decimal("0.5")))
        timed("changed rows (all conflict, all update)", work, changed)
        work.close()


if __name__ == "__main__":
    main()
