"""`update_stock_v2.py --mode discover [--validate]`: weekly discovery of new symbols.

Candidates come from:
- the NASDAQ Trader symbol directory (nasdaqlisted.txt and otherlisted.txt:
  test issues dropped, the ETF flag as quote_type, the exchange's name);
- every symbol seen in the five scraped dividend tables;
- or, when SYMBOLS_FILE names a watchlist, from that file alone: an investor
  who follows 40 symbols should not track 11,000.

Symbols already in `raw_stocks` are left alone, and excluded ones are never
added back. With `--validate`, each new symbol costs one chart request and
is kept only when it shows prices in the last `RECENT_PRICE_DAYS` days or a
dividend in the last year: the directory lists warrants, units and fresh
listings that Yahoo has nothing for. Each rejection counts one failure in
`raw_excluded_symbols`, so a symbol that stays dead for
`EXCLUDE_AFTER_FAILURES` weekly runs is excluded and costs no more requests.

Both directory files are fetched and parsed before anything is written; a
file that cannot be fetched or changed shape fails the run with nothing
written. New symbols are added in one transaction.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from divpipe import net
from divpipe.config import get_settings
from divpipe.db.connect import connect
from divpipe.db.failures import database_errors, rollback_quietly
from divpipe.db.upsert import bulk_upsert
from divpipe.errors import EXIT_OK, ConfigError
from divpipe.fanout import FanoutStats
from divpipe.jobs import exclusions, yahoo_fetch
from divpipe.jobs.update import int_option
from divpipe.market_time import exchange_today
from divpipe.sources import nasdaqtrader, normalize, registry
from divpipe.sources.yahoo import Chart

log = logging.getLogger(__name__)

# The dividend tables whose symbols discovery adds, from the registry: constants (never input) in SQL.
SCRAPED_TABLES = tuple(spec.table for spec in registry.SPECS if spec.discovered and spec.table)
RECENT_PRICE_DAYS = 10
RECENT_DIVIDEND_DAYS = 400
MAX_REJECT_LINES = 10
DEAD_REASON = "discover --validate: no recent prices or dividends at Yahoo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--validate", action="store_true",
                        help="one chart request per new symbol: keep only those with prices in the last "
                             f"{RECENT_PRICE_DAYS} days or a dividend in the last year")
    parser.add_argument("--workers", metavar="N",
                        help="concurrent Yahoo workers for --validate (default: YAHOO_WORKERS)")


@dataclass(frozen=True)
class Candidate:
    symbol: str
    company: str | None
    exchange: str | None
    quote_type: str | None
    discovered_from: str

    def row(self) -> dict:
        return {"symbol": self.symbol, "company": self.company, "exchange": self.exchange,
                "quote_type": self.quote_type, "discovered_from": self.discovered_from}


def directory_candidates() -> dict[str, Candidate]:
    """Both NASDAQ Trader files, fetched and parsed; raises on a failed fetch or a changed shape."""
    found: dict[str, Candidate] = {}
    http = net.client("nasdaqtrader")
    for url in nasdaqtrader.urls():
        body = http.get(url).content
        result = nasdaqtrader.parse(body, url)
        name = url.rsplit("/", 1)[-1]
        log.info("%s: %d symbols, %d test issues dropped, %d rows rejected",
                 name, len(result.records), result.test_issues, len(result.rejected))
        for rejected in result.rejected[:MAX_REJECT_LINES]:
            log.info("   rejected %s: %s", rejected.row, rejected.reason)
        for record in result.records:
            found.setdefault(record.symbol, Candidate(record.symbol, record.company, record.exchange,
                                                      record.quote_type, "nasdaqtrader"))
    return found


def parse_watchlist(text: str) -> tuple[list[str], list[str]]:
    """A watchlist file's symbols, in order and once each, and its unreadable lines.

    One symbol per line (commas also separate); `#` starts a comment.
    """
    symbols: list[str] = []
    bad: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for part in line.split("#", 1)[0].split(","):
            if not part.strip():
                continue
            try:
                symbols.append(normalize.symbol(part))
            except normalize.InvalidValue as err:
                bad.append(f"line {number}: {err}")
    return list(dict.fromkeys(symbols)), bad


def watchlist_candidates(path: Path) -> dict[str, Candidate]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"SYMBOLS_FILE: cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    symbols, bad = parse_watchlist(text)
    for line in bad:
        log.warning("⚠️ SYMBOLS_FILE %s, %s: skipped", path, line)
    if not symbols:
        raise ConfigError(f"SYMBOLS_FILE: {path} names no symbol")
    log.info("watchlist %s: %d symbols", path, len(symbols))
    return {s: Candidate(s, None, None, None, "watchlist") for s in symbols}


def scraped_symbols(conn) -> dict[str, str]:
    """{symbol: table it was first seen in} over the five scraped tables, in ONE query."""
    union = " UNION ALL ".join(f"SELECT DISTINCT symbol, '{t}' AS source FROM {t}" for t in SCRAPED_TABLES)
    with database_errors("reading the scraped tables"), conn.cursor() as cur:
        cur.execute(f"SELECT symbol, min(source) FROM ({union}) AS seen GROUP BY symbol")
        return dict(cur.fetchall())


def tracked_symbols(conn) -> set[str]:
    with database_errors("reading raw_stocks"), conn.cursor() as cur:
        cur.execute("SELECT symbol FROM raw_stocks")
        return {row[0] for row in cur.fetchall()}


def is_alive(chart: Chart, today: dt.date) -> bool:
    """Recent prices, or a dividend within the last year."""
    recent_price = today - dt.timedelta(days=RECENT_PRICE_DAYS)
    recent_dividend = today - dt.timedelta(days=RECENT_DIVIDEND_DAYS)
    return (any(p.date >= recent_price for p in chart.prices)
            or any(d.ex_date >= recent_dividend for d in chart.dividends))


def validate(candidates: list[Candidate], workers: int) -> tuple[list[Candidate], list[str], int]:
    """Keep the candidates whose one chart request shows they trade; return (kept, dead symbols, failed)."""
    yahoo_fetch.prepare()
    yahoo_fetch.seed_timezones(c.symbol for c in candidates)
    today = exchange_today()
    start = today - dt.timedelta(days=RECENT_DIVIDEND_DAYS)
    kept: list[Candidate] = []
    dead: list[str] = []
    failed = 0
    stats = FanoutStats()
    for outcome in yahoo_fetch.yahoo_fanout(candidates, lambda c: yahoo_fetch.fetch_chart(c.symbol, start),
                                            workers=workers, stats=stats):
        if outcome.waited:
            continue  # only rate limited: fanout said so, next week's run tries again
        if outcome.ok and outcome.value is not None and is_alive(outcome.value, today):
            kept.append(outcome.item)
        elif outcome.ok or yahoo_fetch.is_missing_symbol(outcome.exception):
            dead.append(outcome.item.symbol)
            log.info("%s: no recent prices or dividends at Yahoo; not added", outcome.item.symbol)
        else:
            failed += 1
            log.warning("⚠️ %s: could not validate (%s); not added this time", outcome.item.symbol,
                        outcome.error)
    return kept, dead, failed


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    started = time.monotonic()
    workers = int_option(args.workers, "--workers", settings.workers("yahoo"), 1, 256)
    http_before = net.stats()

    watchlist = settings.symbols_file
    candidates = watchlist_candidates(watchlist) if watchlist else directory_candidates()
    conn = connect(settings)
    try:
        if not watchlist:
            for symbol, table in scraped_symbols(conn).items():
                if symbol not in candidates:
                    candidates[symbol] = Candidate(symbol, None, None, None, table)
        tracked = tracked_symbols(conn)
        excluded = exclusions.excluded_symbols(conn)
        conn.commit()
        new = sorted((c for s, c in candidates.items() if s not in tracked and s not in excluded),
                     key=lambda c: c.symbol)
        skipped_excluded = sum(1 for s in candidates if s in excluded and s not in tracked)
        log.info("%d candidate symbols: %d already tracked, %d excluded, %d new",
                 len(candidates), sum(1 for s in candidates if s in tracked), skipped_excluded, len(new))
        dead: list[str] = []
        failed = 0
        if args.validate and new:
            new, dead, failed = validate(new, workers)
        # One transaction: the new symbols, and one more failed week for the dead ones, which are
        # excluded (never validated again) after EXCLUDE_AFTER_FAILURES weeks.
        result = bulk_upsert(conn, "raw_stocks", [c.row() for c in new], key=["symbol"], commit=False)
        counts = exclusions.record_failures(conn, [(s, DEAD_REASON) for s in dead],
                                            settings.exclude_after_failures)
        conn.commit()
    finally:
        rollback_quietly(conn)
        conn.close()

    elapsed = time.monotonic() - started
    newly_excluded = sum(1 for c in counts if c.excluded)
    validated = (f", {len(dead)} without recent data ({newly_excluded} now excluded) and {failed} unvalidated"
                 " left out" if args.validate else "")
    marker = "⚠️" if failed else "✅"
    log.info("%s discover: %d new symbol(s) added to raw_stocks%s in %.1f s; HTTP requests: %s",
             marker, result.inserted, validated, elapsed, yahoo_fetch.describe_request_counts(http_before))
    return EXIT_OK
