"""Backup speed: snapshot dump, archive check and restore test of a database with N price rows.

    .venv/bin/python bench/bench_backup.py [--rows 1000000]

Uses a scratch database on the embedded server (or on DATABASE_URL's server),
dropped afterwards. Prints the seconds and rows/s of each step the nightly
backup takes: count + `pg_dump -Fc --snapshot`, `pg_restore --list`, and the
restore test (`pg_restore` into a scratch database + every table counted).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.scratch import scratch_database
from divpipe.jobs import backup, pgtools


def fill(conn, rows: int) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_stock_prices (symbol, date, open, high, low, close, adj_close, volume)"
            " SELECT 'SYM' || lpad((g / 2500)::text, 5, '0'), DATE '2000-01-03' + g %% 2500,"
            " 10.25 + g %% 97, 11.25 + g %% 97, 9.25 + g %% 97, 10.25 + g %% 97, 10.25 + g %% 97, 1000 + g"
            " FROM generate_series(0, %s - 1) g",
            (rows,),
        )
        cur.execute(
            "INSERT INTO raw_dividends (symbol, ex_date, amount)"
            " SELECT symbol, date, 0.25 FROM raw_stock_prices WHERE volume % 90 = 0"
        )
        cur.execute("ANALYZE")


TIMES: dict[str, float] = {}  # label: seconds of the last step()


def step(label: str, rows: int | None, fn):
    began = time.perf_counter()
    result = fn()
    took = time.perf_counter() - began
    TIMES[label] = took
    rate = f"  {rows / took:>10,.0f} rows/s" if rows else ""
    print(f"{label:<44} {took:6.2f} s{rate}")
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Prints each step; returns {step: seconds}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    TIMES.clear()
    with scratch_database() as url:
        db = psycopg2.connect(url)
        fill(db, args.rows)
        with db.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int / 10000,"
                        " pg_size_pretty(pg_database_size(current_database()))")
            major, size = cur.fetchone()
        db.rollback()
        tools = pgtools.find_tools(major)
        print(f"{args.rows:,} price rows, database {size}, {tools.describe()}")
        with tempfile.TemporaryDirectory() as tmp, pgtools.libpq_environment(url) as env:
            dump = Path(tmp) / "bench.dump"
            counts = step("count rows + pg_dump -Fc --snapshot", args.rows,
                          lambda: backup.dump_snapshot(db, tools, env, dump))
            print(f"{'':<44} dump {dump.stat().st_size / 1e6:.1f} MB, {sum(counts.values()):,} rows")
            step("pg_restore --list (archive check)", None,
                 lambda: backup.verify_archive(tools, env, dump, set(counts)))
            problems = step("restore test (restore + count every table)", args.rows,
                            lambda: backup.restore_test(url, tools, env, dump, counts))
            assert problems == [], problems
        db.close()
    return dict(TIMES)


if __name__ == "__main__":
    main()
