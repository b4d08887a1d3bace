"""`update_stock_v2.py --mode refresh-companies [--limit 100]`: fill in missing company data.

Which symbols: those whose company data is missing (see `MISSING_SQL`),
least recently attempted first, so the same unresolvable symbols cannot take
every night's slots: once tried they go to the back of the queue.

What it writes, in ONE transaction after all fetches:
- each `raw_stocks` column Yahoo's info maps (sources.yahoo.Company) is
  set only where it is NULL: known values are neither overwritten with NULL
  nor replaced (the main update refreshes stale data; this job fills gaps);
- `company_updated_at` when something was filled;
- `company_attempted_at` for every symbol tried, whatever the outcome.

Exit 1 only when every attempt failed for a reason other than "Yahoo has
nothing for this symbol" (Yahoo unreachable, say).
"""

from __future__ import annotations

import argparse
import logging
import time

from psycopg2 import sql
from psycopg2.extras import execute_values

from divpipe.config import get_settings
from divpipe.db.connect import connect
from divpipe.db.failures import database_errors, lock_rows_in_key_order
from divpipe.jobs import yahoo_fetch
from divpipe.net import counters
from divpipe.sources.yahoo import Company

log = logging.getLogger(__name__)

MAX_LIMIT = 100_000
MAX_WARNING_LINES = 25

# Company data is missing when a symbol has no name, type or exchange, or is a
# stock without sector or industry (funds have neither, so they are not asked).
MISSING_SQL = """(
    s.company IS NULL OR s.quote_type IS NULL OR s.exchange IS NULL
    OR (s.quote_type = 'EQUITY' AND (s.sector IS NULL OR s.industry IS NULL))
)"""

# Every column of sources.yahoo.Company but the key (a test keeps them in step), with
# its SQL type for the VALUES list.
_COLUMN_TYPES = {
    "company": "text", "exchange": "text", "quote_type": "text", "sector": "text", "industry": "text",
    "currency": "text", "price": "numeric", "dividend_yield": "numeric", "market_cap": "bigint",
    "aum": "bigint", "expense_ratio": "numeric",
}
COLUMNS = tuple(_COLUMN_TYPES)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=_limit, default=100,
                        help="symbols to try this run, least recently attempted first (default 100)")


def pick_symbols(conn, limit: int) -> list[str]:
    """Symbols with missing company data, never-attempted first, then oldest attempt first."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT s.symbol FROM raw_stocks s"
            " LEFT JOIN raw_excluded_symbols x ON x.symbol = s.symbol AND x.excluded"
            f" WHERE x.symbol IS NULL AND {MISSING_SQL}"
            " ORDER BY s.company_attempted_at ASC NULLS FIRST, s.symbol LIMIT %s",
            (limit,),
        )
        return [row[0] for row in cur.fetchall()]


def count_missing(conn) -> int:
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM raw_stocks s"
            " LEFT JOIN raw_excluded_symbols x ON x.symbol = s.symbol AND x.excluded"
            f" WHERE x.symbol IS NULL AND {MISSING_SQL}"
        )
        return cur.fetchone()[0]


def _fill_sql() -> sql.Composed:
    ident = sql.Identifier
    cols = [ident(c) for c in COLUMNS]
    fills = sql.SQL(" OR ").join(
        sql.SQL("(s.{c} IS NULL AND v.{c} IS NOT NULL)").format(c=c) for c in cols
    )
    # `old` reads the rows as they were before this statement's UPDATE.
    return sql.SQL("""
WITH v (symbol, {cols}) AS (VALUES %s),
old AS (SELECT s.symbol, {fills} AS fills FROM raw_stocks s JOIN v USING (symbol))
UPDATE raw_stocks s SET
    {assignments},
    company_updated_at = CASE WHEN old.fills THEN now() ELSE s.company_updated_at END,
    updated_at = CASE WHEN old.fills THEN now() ELSE s.updated_at END,
    company_attempted_at = now()
FROM v JOIN old USING (symbol)
WHERE s.symbol = v.symbol
RETURNING s.symbol, old.fills
""").format(
        cols=sql.SQL(", ").join(cols),
        fills=fills,
        assignments=sql.SQL(", ").join(sql.SQL("{c} = COALESCE(s.{c}, v.{c})").format(c=c) for c in cols),
    )


def write(conn, attempted: list[str], found: dict[str, Company]) -> int:
    """Fill missing columns and stamp the attempts in one transaction; returns symbols filled."""
    if not attempted:
        return 0
    template = "(%s, " + ", ".join(f"%s::{_COLUMN_TYPES[c]}" for c in COLUMNS) + ")"
    rows = []
    for symbol in attempted:
        company = found.get(symbol)
        rows.append((symbol, *(getattr(company, c) if company else None for c in COLUMNS)))
    with database_errors("writing company data"), conn, conn.cursor() as cur:
        lock_rows_in_key_order(cur, "raw_stocks", "symbol", attempted)
        statement = _fill_sql().as_string(conn)
        result = execute_values(cur, statement, rows, template=template, page_size=len(rows), fetch=True)
    return sum(1 for _, filled in result if filled)


def _warn_lines(lines: list[str]) -> None:
    for line in lines[:MAX_WARNING_LINES]:
        log.warning("⚠️ %s", line)
    if len(lines) > MAX_WARNING_LINES:
        log.warning("⚠️ ... and %d more", len(lines) - MAX_WARNING_LINES)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = get_settings()
    conn = connect(settings)
    try:
        symbols = pick_symbols(conn, args.limit)
        found: dict[str, Company] = {}
        unknown: list[str] = []
        failed: list[str] = []
        if symbols:
            yahoo_fetch.prepare()
            http_before = counters.stats()
            for outcome in yahoo_fetch.yahoo_fanout(symbols, yahoo_fetch.fetch_company,
                                                    workers=settings.workers("yahoo")):
                if outcome.ok:
                    found[outcome.item] = outcome.value
                elif outcome.waited:
                    continue  # only rate limited: fanout said so, the next run tries again
                elif yahoo_fetch.is_missing_symbol(outcome.exception):
                    unknown.append(outcome.item)
                else:
                    failed.append(f"{outcome.item}: {outcome.error}")
            requests = yahoo_fetch.describe_request_counts(http_before)
        else:
            requests = "0"
        filled = write(conn, symbols, found)
        still_missing = count_missing(conn)
    finally:
        conn.close()

    if unknown:
        log.info("Yahoo has no company data for: %s", ", ".join(sorted(unknown)[:50]))
    _warn_lines(failed)
    line = (
        f"refresh-companies: {len(symbols)} symbols attempted, {filled} symbols filled,"
        f" {still_missing} symbols still missing; unknown to Yahoo {len(unknown)}, failed {len(failed)};"
        f" {time.monotonic() - started:.1f}s, Yahoo requests {requests}"
    )
    if symbols and len(failed) == len(symbols):
        log.error("❌ %s", line)
        return 1
    log.info("%s %s", "⚠️" if failed else "✅", line)
    return 0
