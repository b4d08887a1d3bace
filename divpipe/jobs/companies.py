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

from divpipe.config import get_settings
from divpipe.db.connect import connect
from divpipe.db.failures import database_errors, lock_rows_in_key_order
from divpipe.db.upsert import bulk_upsert
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

# Every column of sources.yahoo.Company but the key (a test keeps them in step).
COLUMNS = ("company", "exchange", "quote_type", "sector", "industry", "currency", "price", "dividend_yield",
           "market_cap", "aum", "expense_ratio")


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


def write(conn, attempted: list[str], found: dict[str, Company]) -> int:
    """Fill missing columns and stamp the attempts in one transaction; returns symbols filled.

    Through the one write path with `fill_only`: values are checked against
    their columns (a yield of 15000 stays NULL, not a failed night), a known
    value is neither replaced nor overwritten with NULL, and company_updated_at
    moves only where something was filled.
    """
    if not attempted:
        return 0
    with database_errors("writing company data"), conn, conn.cursor() as cur:
        lock_rows_in_key_order(cur, "raw_stocks", "symbol", attempted)
        filled = bulk_upsert(conn, "raw_stocks", (found[s].row() for s in attempted if s in found), ("symbol",),
                             commit=False, fill_only=True, stamp=("company_updated_at", "updated_at"))
        cur.execute("UPDATE raw_stocks SET company_attempted_at = now() WHERE symbol = ANY(%s)", (attempted,))
    return filled.written


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
