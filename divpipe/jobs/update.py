"""`update_stock_v2.py --mode update`: prices, dividends, splits and company data of every tracked symbol.

The nightly critical path. For each symbol in `raw_stocks` (minus the
excluded ones, in symbol order):

1. ONE chart request through yfinance from the latest stored price date
   minus `OVERLAP_DAYS` (to pick up corrections), or `--history-years` back
   for a symbol without prices. It returns prices, dividends and splits.
2. `Ticker.info` only when the symbol's company data is missing or older
   than `COMPANY_MAX_AGE_DAYS`.

The bookmarks (latest price date per symbol) come from ONE query. Symbols
are fetched by a bounded worker pool sharing Yahoo's rate limit; results are
written by this (the main) thread with the bulk upsert, one transaction per
batch of `UPSERT_BATCH_ROWS` rows, as they arrive, so memory does not grow
with the number of symbols. A database error stops the run (exit 1). The
run exits 1 when more than `MAX_FAILURE_RATIO` of the symbols failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg2

from divpipe.config import Settings, get_settings
from divpipe.db.connect import connect
from divpipe.db.failures import rollback_quietly
from divpipe.db.upsert import UpsertResult, bulk_upsert
from divpipe.errors import EXIT_FAILURE, EXIT_OK, ConfigError, DatabaseError
from divpipe.fanout import FanoutStats, Skip, describe
from divpipe.jobs import exclusions, yahoo_fetch
from divpipe.market_time import exchange_today
from divpipe.net import counters
from divpipe.sources import normalize
from divpipe.sources.yahoo import Chart, Company

log = logging.getLogger(__name__)

# Days re-fetched before the latest stored price: Yahoo corrects recent bars
# and dividends now and then, and a few days cost nothing in the same request.
OVERLAP_DAYS = 5
# An empty chart over a shorter window says nothing about the symbol.
QUIET_WINDOW_DAYS = 7
# Failures listed one per line in the summary; the rest are counted.
MAX_FAILURE_LINES = 50

KEYS = {
    "raw_stock_prices": ("symbol", "date"),
    "raw_dividends": ("symbol", "ex_date"),
    "raw_stock_splits": ("symbol", "split_date"),
    "raw_stocks": ("symbol",),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tickers", metavar="A,B",
                        help="update only these symbols (comma-separated); untracked ones are added to "
                             "raw_stocks")
    parser.add_argument("--limit", metavar="N", help="update at most N symbols (the first N in symbol order)")
    parser.add_argument("--workers", metavar="N",
                        help="concurrent Yahoo workers (default: YAHOO_WORKERS); the request rate is "
                             "capped by YAHOO_RATE_LIMIT whatever the worker count")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--prices-only", action="store_true",
                      help="store prices only (one chart request per symbol; no dividends, splits or "
                           "company data)")
    only.add_argument("--dividends-only", action="store_true",
                      help="store dividends and splits only (one chart request per symbol; no prices, "
                           "no company data)")
    only.add_argument("--companies-only", action="store_true",
                      help="fetch company data only, for symbols whose data is missing or older than "
                           "COMPANY_MAX_AGE_DAYS (no chart requests)")
    parser.add_argument("--from-date", metavar="YYYY-MM-DD",
                        help="fetch every symbol from this date instead of from its latest stored price "
                             "(to backfill or repair a range)")
    parser.add_argument("--history-years", metavar="N",
                        help="years of history for a symbol without prices (default: HISTORY_YEARS)")


@dataclass(frozen=True)
class Options:
    tickers: tuple[str, ...] | None
    limit: int | None
    workers: int
    from_date: dt.date | None
    history_years: int
    prices: bool
    actions: bool  # dividends and splits
    companies: bool

    @property
    def chart(self) -> bool:
        return self.prices or self.actions


def int_option(raw: str | None, flag: str, default: int | None, low: int,
                high: int | None = None) -> int | None:
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{flag}: expected a whole number, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{flag}: must be {bounds}, got {value}")
    return value


def ticker_option(raw: str) -> tuple[str, ...]:
    """--tickers A,b,A -> ("A", "B"): normalized, in order, once each. ConfigError (exit 2) if bad or empty."""
    try:
        tickers = tuple(dict.fromkeys(normalize.symbol(t) for t in raw.split(",") if t.strip()))
    except normalize.InvalidValue as err:
        raise ConfigError(f"--tickers: {err}") from None
    if not tickers:
        raise ConfigError("--tickers: no symbol given")
    return tickers


def date_option(raw: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"{flag}: expected a date as YYYY-MM-DD, got {raw!r}") from None


def parse_options(args: argparse.Namespace, settings: Settings) -> Options:
    """Check every flag before anything touches the database. Raises ConfigError (exit 2)."""
    tickers = None if args.tickers is None else ticker_option(args.tickers)
    from_date = None
    if args.from_date is not None:
        from_date = date_option(args.from_date, "--from-date")
        if from_date > exchange_today():
            raise ConfigError(f"--from-date: {from_date} is in the future")
    only_prices, only_dividends, only_companies = args.prices_only, args.dividends_only, args.companies_only
    anything = not (only_prices or only_dividends or only_companies)
    return Options(
        tickers=tickers,
        limit=int_option(args.limit, "--limit", None, 1),
        workers=int_option(args.workers, "--workers", settings.workers("yahoo"), 1, 256),
        from_date=from_date,
        history_years=int_option(args.history_years, "--history-years", settings.history_years, 1, 100),
        prices=anything or only_prices,
        actions=anything or only_dividends,
        companies=anything or only_companies,
    )


@dataclass(frozen=True)
class Plan:
    """What to fetch for one symbol."""

    symbol: str
    start: dt.date | None  # chart from this date; None: no chart request
    company_due: bool
    first_time: bool = False  # no stored prices yet

    def __str__(self) -> str:  # log lines name the symbol
        return self.symbol


@dataclass
class Fetched:
    chart: Chart | None = None
    company: Company | None = None
    company_error: str | None = None


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _db(what: str, err: psycopg2.Error) -> DatabaseError:
    text = str(err).strip()
    return DatabaseError(f"{what}: {text.splitlines()[0] if text else type(err).__name__}")


def track_tickers(conn, tickers: tuple[str, ...]) -> int:
    """Add the named symbols that raw_stocks does not have yet; return how many."""
    # fill_only: a tracked symbol keeps where it was discovered from.
    result = bulk_upsert(conn, "raw_stocks", ({"symbol": t, "discovered_from": "cli"} for t in tickers),
                         ("symbol",), fill_only=True)
    return result.inserted


def load_plans(conn, options: Options, settings: Settings) -> list[Plan]:
    """Every symbol to update with its bookmark and company age: ONE query."""
    today = exchange_today()
    # Named tickers are updated even when excluded: the user asked for them.
    query = f"""
        SELECT s.symbol,
               (SELECT max(p.date) FROM raw_stock_prices p WHERE p.symbol = s.symbol) AS last_price,
               s.company_updated_at IS NULL
                 OR s.company_updated_at < now() - make_interval(days => %(max_age)s) AS company_due,
               COALESCE(x.excluded, false) AS excluded
          FROM raw_stocks s
          LEFT JOIN raw_excluded_symbols x ON x.symbol = s.symbol
         WHERE (cardinality(%(tickers)s::text[]) = 0 AND x.excluded IS NOT TRUE)
            OR s.symbol = ANY(%(tickers)s::text[])
         ORDER BY s.symbol
         {"LIMIT %(limit)s" if options.limit else ""}
    """
    params = {"tickers": list(options.tickers or ()), "max_age": settings.company_max_age_days,
              "limit": options.limit}
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        conn.commit()
    except psycopg2.Error as err:
        raise _db("reading symbols and bookmarks", err) from err
    plans = []
    oldest = years_before(today, options.history_years)
    for symbol, last_price, company_due, excluded in rows:
        if excluded:
            log.warning("⚠️ %s is excluded after repeated failures; updating it because --tickers names it",
                        symbol)
        start = None
        if options.chart:
            if options.from_date is not None:
                start = options.from_date
            elif last_price is not None:
                start = last_price - dt.timedelta(days=OVERLAP_DAYS)
            else:
                start = oldest
        plans.append(Plan(symbol, start, bool(company_due) and options.companies, last_price is None))
    return plans


def fetch(plan: Plan) -> Fetched:
    """Runs in a worker thread: network only, never the database."""
    fetched = Fetched()
    if plan.start is not None:
        fetched.chart = yahoo_fetch.fetch_chart(plan.symbol, plan.start)
        if fetched.chart.empty:
            if (exchange_today() - plan.start).days < QUIET_WINDOW_DAYS:
                # A window of a few days can hold no session at all (--from-date over a holiday).
                raise Skip(f"no trading day since {plan.start}")
            raise yahoo_fetch.SymbolNotFound(f"no prices, dividends or splits since {plan.start}")
    if plan.company_due:
        try:
            fetched.company = yahoo_fetch.fetch_company(plan.symbol)
        except Exception as exc:  # the chart data is good: report the company part apart
            if plan.start is None or yahoo_fetch.is_rate_limited(exc):
                raise  # nothing else to keep (or worth a retry of the whole symbol)
            fetched.company_error = describe(exc)
    elif plan.start is None:
        raise Skip("company data is fresh")
    return fetched


@dataclass
class Batch:
    """Rows of some symbols, per table, and the symbols' bookkeeping: one transaction."""

    rows: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in KEYS})
    prices_done: list[str] = field(default_factory=list)
    last_close: dict[str, Decimal] = field(default_factory=dict)
    company_attempted: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)

    def size(self) -> int:
        return sum(len(r) for r in self.rows.values()) + len(self.succeeded)


class Writer:
    """Buffers rows per table; writes each full batch in ONE transaction on a background thread.

    Fetching goes on while the database works, and at most two batches exist
    at once (one filling, one being written), so memory stays bounded. A
    database error surfaces in the calling thread at the next `add`/`close`.
    """

    def __init__(self, conn, batch_rows: int):
        self.conn, self.batch_rows = conn, batch_rows
        self.batch = Batch()
        self.totals: dict[str, UpsertResult] = {t: UpsertResult() for t in KEYS}
        self.batches = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer")
        self._writing: Future | None = None

    def add(self, plan: Plan, fetched: Fetched, options: Options) -> None:
        now = dt.datetime.now(dt.UTC)
        batch = self.batch
        if fetched.chart is not None:
            if options.prices:
                batch.rows["raw_stock_prices"].extend(p.row() for p in fetched.chart.prices)
                batch.prices_done.append(plan.symbol)
                if fetched.chart.prices:
                    batch.last_close[plan.symbol] = max(fetched.chart.prices, key=lambda p: p.date).close
            if options.actions:
                batch.rows["raw_dividends"].extend(d.row() for d in fetched.chart.dividends)
                batch.rows["raw_stock_splits"].extend(s.row() for s in fetched.chart.splits)
        if plan.company_due:
            batch.company_attempted.append(plan.symbol)
            if fetched.company is not None:
                batch.rows["raw_stocks"].append({**fetched.company.row(), "company_updated_at": now})
        batch.succeeded.append(plan.symbol)
        if batch.size() >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the current batch to the writer thread (after the previous one is written)."""
        if not self.batch.size():
            return
        self._wait()
        self._writing = self._pool.submit(self._write, self.batch)
        self.batch = Batch()

    def close(self) -> None:
        """Write what is left and wait for it; raises the writer's DatabaseError."""
        try:
            self.flush()
            self._wait()
        finally:
            self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        """After a failure elsewhere: let the write in progress end, drop the rest."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _write(self, batch: Batch) -> None:
        conn = self.conn
        try:
            for table, rows in batch.rows.items():
                if rows:
                    stamp = "updated_at" if table == "raw_stocks" else None
                    self.totals[table] += bulk_upsert(conn, table, rows, KEYS[table], commit=False,
                                                      stamp=stamp)
            with conn.cursor() as cur:
                if batch.prices_done:
                    cur.execute("UPDATE raw_stocks SET prices_updated_at = now() WHERE symbol = ANY(%s)",
                                (batch.prices_done,))
                if batch.last_close:
                    # Company data is refreshed monthly; the price should not be a month old.
                    # Through the one write path (a close that fits no column stays out); not
                    # counted in the summary's raw_stocks line, which counts company data.
                    bulk_upsert(conn, "raw_stocks",
                                ({"symbol": s, "price": c} for s, c in batch.last_close.items()),
                                ("symbol",), commit=False)
                if batch.company_attempted:
                    cur.execute("UPDATE raw_stocks SET company_attempted_at = now() WHERE symbol = ANY(%s)",
                                (batch.company_attempted,))
            exclusions.record_successes(conn, batch.succeeded)
            conn.commit()
        except psycopg2.Error as err:
            rollback_quietly(conn)
            raise _db("writing a batch", err) from err
        except BaseException:
            rollback_quietly(conn)
            raise
        self.batches += 1


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    options = parse_options(args, settings)
    started = time.monotonic()
    http_before = counters.stats()
    conn = connect(settings)
    try:
        return _update(conn, options, settings, started, http_before)
    finally:
        conn.close()


def _update(conn, options: Options, settings: Settings, started: float, http_before) -> int:
    if options.tickers:
        added = track_tickers(conn, options.tickers)
        if added:
            log.info("added %d untracked symbol(s) named by --tickers to raw_stocks", added)
    plans = load_plans(conn, options, settings)
    if not plans:
        log.warning("⚠️ no symbols to update (raw_stocks is empty or every symbol is excluded); "
                    "run --mode discover first")
        return EXIT_OK
    new = sum(1 for p in plans if p.first_time)
    due = sum(1 for p in plans if p.company_due)
    log.info("updating %d symbol(s) with %d worker(s): %d without prices yet, %d with company data due",
             len(plans), options.workers, new, due)

    yahoo_fetch.prepare()
    if options.chart:
        seeded = yahoo_fetch.seed_timezones(p.symbol for p in plans)
        if seeded:
            log.info("timezone cache: %d new symbol(s) marked as New York, saving a probe each", seeded)
    writer = Writer(conn, settings.upsert_batch_rows)
    stats = FanoutStats()
    failures: list[tuple[str, str, bool]] = []
    company_failures = 0
    progress_every = max(10, min(500, len(plans) // 20))
    try:
        for outcome in yahoo_fetch.yahoo_fanout(plans, fetch, workers=options.workers, stats=stats,
                                                progress_every=progress_every):
            plan = outcome.item
            if outcome.ok:
                assert outcome.value is not None
                if outcome.value.company_error:
                    company_failures += 1
                    log.warning("⚠️ %s: company data not updated: %s", plan.symbol,
                                outcome.value.company_error)
                writer.add(plan, outcome.value, options)
            elif outcome.skipped:
                continue
            else:
                # Only a chart that found nothing says the symbol is gone; company data alone does not.
                missing = (options.chart and outcome.exception is not None
                           and yahoo_fetch.is_missing_symbol(outcome.exception))
                failures.append((plan.symbol, outcome.error or "unknown error", missing))
                log.warning("⚠️ %s: %s", plan.symbol, outcome.error)
    except BaseException:
        writer.abandon()
        raise
    writer.close()

    total = len(plans)
    ratio = len(failures) / total
    failed_run = ratio > settings.max_failure_ratio
    _count_failures(conn, failures, settings, failed_run)
    _summary(stats, writer, failures, company_failures, http_before, time.monotonic() - started)
    if failed_run:
        log.error("❌ update failed: %d of %d symbols failed (%.0f%% > MAX_FAILURE_RATIO %.0f%%)",
                  len(failures), total, ratio * 100, settings.max_failure_ratio * 100)
        return EXIT_FAILURE
    return EXIT_OK


def _count_failures(conn, failures, settings: Settings, failed_run: bool) -> None:
    """Symbols that had no data count towards exclusion, unless the whole run failed."""
    missing = [(symbol, reason) for symbol, reason, is_missing in failures if is_missing]
    if not missing:
        return
    if failed_run:
        log.warning("⚠️ too many failures to blame the symbols: not counting them towards exclusion")
        return
    try:
        counts = exclusions.record_failures(conn, missing, settings.exclude_after_failures)
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    for count in counts:
        if count.excluded:
            log.warning("⚠️ %s excluded after %d consecutive failed runs", count.symbol,
                        count.consecutive_failures)
        else:
            log.info("%s: %d of %d consecutive failures before exclusion", count.symbol,
                     count.consecutive_failures, settings.exclude_after_failures)


def _summary(stats: FanoutStats, writer: Writer, failures, company_failures, http_before,
             elapsed: float) -> None:
    marker = "✅" if not failures else "⚠️"
    log.info("%s update: %d ok, %d failed, %d skipped of %d symbols in %.1f s (%.1f symbols/s)",
             marker, stats.ok, stats.failed, stats.skipped, stats.total, elapsed,
             (stats.ok + stats.failed + stats.skipped) / max(elapsed, 1e-9))
    for table, result in writer.totals.items():
        bad = (f", {result.rejected} rows rejected, {result.nulled} bad values left NULL"
               if result.rejected or result.nulled else "")
        log.info("   %s: %d inserted, %d updated%s", table, result.inserted, result.updated, bad)
    log.info("   HTTP requests: %s; %d rate-limit pause(s)", yahoo_fetch.describe_request_counts(http_before),
             stats.rate_limited)
    # The fetch phase alone, without start-up (imports, bookmarks) and the summary.
    requests = sum(yahoo_fetch.request_counts_since(http_before).values())
    log.info("   fetch phase: %.1f s, %.1f symbols/s, %.1f requests/s", stats.elapsed, stats.per_second,
             requests / stats.elapsed)
    if company_failures:
        log.info("   company data not updated for %d symbol(s)", company_failures)
    if stats.waited:
        log.warning("⚠️ %d symbol(s) only waited on Yahoo's rate limit all run: left for the next run, "
                    "not counted as failed", stats.waited)
    if failures:
        kinds = Counter("no data" if missing else "error" for _, _, missing in failures)
        log.warning("⚠️ %d symbol(s) failed (%s):", len(failures),
                    ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        for symbol, reason, _ in failures[:MAX_FAILURE_LINES]:
            log.warning("⚠️   %s: %s", symbol, reason)
        if len(failures) > MAX_FAILURE_LINES:
            log.warning("⚠️   ... and %d more", len(failures) - MAX_FAILURE_LINES)
