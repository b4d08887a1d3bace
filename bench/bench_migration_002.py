"""Migration 002 (every distribution kept) on tables filled under the old schema.

    .venv/bin/python bench/bench_migration_002.py [--rows 200000]

Creates a scratch database with migration 001 only, fills the NASDAQ, CBOE and
Snowball tables with `--rows` rows each (every CBOE row with a stored
Distribution Type, the worst case: each is rewritten), then times migrate().
"""

from __future__ import annotations

import argparse
import time

import psycopg2

from bench.scratch import scratch_database
from divpipe.db.migrate import migrate

FILL = ("INSERT INTO {table} (symbol, ex_date, amount{extra}) "
        "SELECT 'S' || (i %% 5000), DATE '2000-01-01' + (i / 5000), 0.25{value} FROM generate_series(1, %s) AS i")


def run(rows: int) -> tuple[list[str], float]:
    """(migrations applied, seconds) for migrate() on a scratch database filled under migration 001."""
    with scratch_database(migrated=False) as url:
        migrate(url, up_to=1)
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute(FILL.format(table="raw_dividends_nasdaq", extra="", value=""), (rows,))
            cur.execute(FILL.format(table="raw_dividends_snowball", extra="", value=""), (rows,))
            cur.execute(FILL.format(table="raw_dividends_cboe", extra=", distribution_type",
                                    value=", 'Cash Dividend'"), (rows,))
        conn.close()
        started = time.monotonic()
        applied = migrate(url)
        return applied, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per table (default 200000)")
    args = parser.parse_args()
    applied, took = run(args.rows)
    print(f"{', '.join(applied)}: 3 tables x {args.rows:,} rows in {took:.1f}s")


if __name__ == "__main__":
    main()
