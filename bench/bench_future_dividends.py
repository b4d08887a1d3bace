"""future-dividends speed: consolidating N upcoming dividends per source table.

    .venv/bin/python bench/bench_future_dividends.py [--per-source 40000]

Uses a scratch database on the embedded server (or on DATABASE_URL's server),
dropped afterwards. Each of the five scraped tables gets N rows in the next
90 days, overlapping so that most (symbol, ex_date) pairs come from several
sources. Prints the seconds of: the first build (all rows new), a re-run
(nothing changed), and a run after 10 % of one source's amounts changed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import psycopg2

from bench.scratch import scratch_database
from divpipe.jobs import future_dividends as fd

TODAY = dt.date(2026, 11, 23)


def fill(conn, per_source: int) -> None:
    with conn, conn.cursor() as cur:
        for rank, (name, table) in enumerate(fd.SOURCES):
            amount = "NULL" if name == "nyse" else f"0.25 + ((g + {rank} * %(shift)s) %% 7) * 0.01"
            # Sources cover shifted ranges of the same symbols: pairs are shared by 2-5 sources.
            # Polygon's rows carry Polygon's id of the distribution (NOT NULL, unique).
            extra, value = (", polygon_id", ", 'p' || g") if name == "polygon" else ("", "")
            cur.execute(
                f"INSERT INTO {table} (symbol, ex_date, amount, payment_date{extra})"
                f" SELECT 'S' || ((g + {rank} * %(shift)s) / 90), %(today)s::date + (g + {rank} * %(shift)s) %% 90,"
                f" {amount}, %(today)s::date + 100{value} FROM generate_series(0, %(n)s - 1) g",
                {"n": per_source, "shift": per_source // 10, "today": TODAY},
            )
        cur.execute("ANALYZE")


def timed(label: str, conn) -> float:
    began = time.perf_counter()
    result = fd.consolidate(conn, TODAY, 90)
    took = time.perf_counter() - began
    print(f"{label:<34} {took:6.2f} s  rows {result.total:,}: {result.inserted:,} new,"
          f" {result.updated:,} changed, {result.removed:,} removed, {len(result.conflicts):,} conflicts")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-source", type=int, default=40_000)
    args = parser.parse_args()
    with scratch_database() as url:
        db = psycopg2.connect(url)
        fill(db, args.per_source)
        print(f"{args.per_source:,} rows in each of {len(fd.SOURCES)} source tables")
        timed("first build", db)
        timed("re-run, nothing changed", db)
        with db, db.cursor() as cur:
            cur.execute("UPDATE raw_yieldmax_dividends SET amount = amount + 0.001 WHERE random() < 0.1")
        timed("10 % of yieldmax amounts changed", db)
        db.close()


if __name__ == "__main__":
    main()
