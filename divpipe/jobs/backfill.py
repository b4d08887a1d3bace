"""`update_stock_v2.py --mode backfill`: fetch only the missing price history, on Dask.

The gap plan (divpipe/jobs/backfill_plan.py) says which date ranges each
symbol lacks; each symbol with gaps is one Dask task that fetches its ranges
with the main update's `yahoo_fetch.fetch_chart` (one chart request per
range: prices, dividends and splits) and writes them with the update's
`bulk_upsert`, all of the symbol's rows in ONE transaction on the task's own
connection. A symbol reported stored is committed; a task that dies leaves
its gaps for the next run, which plans them again from the database.

Schedulers:
- `threads` (default): `dask.delayed` on this machine, `--workers` threads.
- `tcp://HOST:8786`: an existing Dask distributed scheduler. Every worker
  process joins the shared rate limit (PostgreSQL, or Redis when
  RATE_LIMIT_REDIS_URL is set) and keeps one connection per worker thread
  to DATABASE_URL, which it must be able to reach: the embedded database
  lives in this machine's data directory and is refused.
- `processes`: a `distributed.LocalCluster` of worker processes on this
  machine, run exactly like `tcp://` (dask's plain multiprocessing
  scheduler has no per-process set-up, so no connection or shared limiter).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg2

from divpipe.config import FIELDS, Settings, get_settings
from divpipe.errors import EXIT_FAILURE, EXIT_OK, ConfigError, DatabaseError
from divpipe.fanout import describe
from divpipe.jobs import backfill_plan, yahoo_fetch
from divpipe.jobs.backfill_plan import SymbolPlan
from divpipe.jobs.update import KEYS, date_option, int_option, ticker_option, track_tickers
from divpipe.market_time import exchange_today
from divpipe.net import counters

log = logging.getLogger(__name__)

# A symbol refused (429) this many times in a row is left for the next run, not failed.
RATE_LIMITED_TRIES = 8
# Symbols named one per line in the summary; the rest are counted.
MAX_SYMBOL_LINES = 200
TABLES = ("raw_stock_prices", "raw_dividends", "raw_stock_splits")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--days", metavar="N",
                        help="the last N exchange sessions before today (default: BACKFILL_DAYS)")
    window.add_argument("--start", metavar="YYYY-MM-DD", help="first day of the window")
    parser.add_argument("--end", metavar="YYYY-MM-DD",
                        help="last day of the window with --start (default: the last session before today)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tickers", metavar="A,B",
                       help="backfill these symbols (untracked ones are added to raw_stocks)")
    which.add_argument("--all", action="store_true", help="backfill every tracked symbol not excluded")
    parser.add_argument("--workers", metavar="N",
                        help="concurrent tasks (default: YAHOO_WORKERS): threads, or with --scheduler processes "
                             "N threads over min(N, cores) worker processes; ignored with tcp:// (the cluster's "
                             "threads); YAHOO_RATE_LIMIT caps the requests whatever the count")
    parser.add_argument("--no-gaps", action="store_true",
                        help="refetch the whole window instead of only the missing sessions")
    parser.add_argument("--scheduler", default="threads", metavar="threads|processes|tcp://HOST:8786",
                        help="where the tasks run (default: threads)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the gap plan and the number of requests; fetch and write nothing")


@dataclass(frozen=True)
class Options:
    start: dt.date
    end: dt.date
    sessions: tuple[dt.date, ...]
    tickers: tuple[str, ...] | None
    workers: int
    whole_window: bool
    scheduler: str
    dry_run: bool

    @property
    def cluster(self) -> bool:
        return self.scheduler != "threads"


def parse_options(args: argparse.Namespace, settings: Settings) -> Options:
    """Check every flag before anything touches the database or the network. ConfigError: exit 2."""
    if args.tickers is None and not args.all:
        raise ConfigError("backfill: name the symbols with --tickers A,B, or --all for every tracked symbol")
    tickers = None if args.tickers is None else ticker_option(args.tickers)
    scheduler = args.scheduler.strip()
    if scheduler not in ("threads", "processes") and not scheduler.startswith("tcp://"):
        raise ConfigError(f"--scheduler: expected threads, processes or tcp://HOST:PORT, got {scheduler!r}")
    # Today's bar belongs to the nightly update (it may still be forming).
    today = exchange_today()
    if args.end is not None and args.start is None:
        raise ConfigError("--end: needs --start")
    if args.start is not None:
        start = date_option(args.start, "--start")
        end = date_option(args.end, "--end") if args.end is not None else today - dt.timedelta(days=1)
        if end >= today:
            raise ConfigError(f"--end: {end} is not before today ({today}); today's bar is the update's")
        if start > end:
            raise ConfigError(f"--start: {start} is after --end {end}")
        sessions = backfill_plan.sessions_between(start, end)
    else:
        days = int_option(args.days, "--days", settings.backfill_days, 1, 25200)
        sessions = backfill_plan.last_sessions(days, today)
        start, end = sessions[0], sessions[-1]
    if not sessions:
        raise ConfigError(f"backfill: no XNYS session between {start} and {end}")
    return Options(
        start=start, end=end, sessions=tuple(sessions), tickers=tickers,
        workers=int_option(args.workers, "--workers", settings.workers("yahoo"), 1, 256),
        whole_window=args.no_gaps, scheduler=scheduler, dry_run=args.dry_run,
    )


# -- the task: one symbol, wherever it runs -------------------------------------------------


@dataclass
class SymbolResult:
    symbol: str
    ranges: tuple[str, ...]
    requests: int = 0  # chart requests asked of yfinance (each range once, more after a 429)
    rows: dict[str, int] = field(default_factory=dict)  # rows stored (written or already equal) per table
    changed: int = 0  # of which inserted or updated
    status: str = "ok"  # ok | failed | waited
    error: str | None = None
    missing: bool = False  # Yahoo said it has no data for the symbol

    @property
    def stored(self) -> int:
        return sum(self.rows.values())


_local = threading.local()
_connections: list = []
_connections_lock = threading.Lock()


def _connection(url: str):
    """This thread's connection (threads of this process, or of a cluster worker)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or getattr(_local, "pid", None) != os.getpid():
        try:
            conn = psycopg2.connect(url, connect_timeout=10, application_name="divpipe backfill")
        except psycopg2.Error as err:
            raise DatabaseError(f"connecting to the database: {describe(err)}") from err
        _local.conn, _local.pid = conn, os.getpid()
        with _connections_lock:
            _connections.append(conn)
    return conn


def close_connections() -> None:
    with _connections_lock:
        conns, _connections[:] = list(_connections), []
    for conn in conns:
        if not conn.closed:
            conn.close()
    _local.__dict__.clear()


def _fetch_range(symbol: str, start: dt.date, end: dt.date, result: SymbolResult):
    """One chart request, asked again after a 429 (the limiter has paused every process meanwhile)."""
    fetch = yahoo_fetch.blaming_yahoo_failures(lambda _: yahoo_fetch.fetch_chart(symbol, start, end))
    for attempt in range(RATE_LIMITED_TRIES):
        result.requests += 1
        try:
            return fetch(symbol)
        except Exception as exc:
            if not yahoo_fetch.is_rate_limited(exc) or attempt + 1 == RATE_LIMITED_TRIES:
                raise
            # net.yahoo already paused the shared limiter on the 429 (every
            # worker of every process): the next request waits it out there.
            if yahoo_fetch.net_yahoo.cooldown_remaining() <= 0:
                yahoo_fetch.net_yahoo.cooldown(max(1.0, get_settings().http_backoff * 4))
    raise AssertionError("unreachable")


def backfill_symbol(plan: SymbolPlan, database_url: str) -> SymbolResult:
    """Fetch `plan`'s ranges and store them in ONE transaction. Raises only DatabaseError."""
    result = SymbolResult(plan.symbol, tuple(str(r) for r in plan.ranges))
    charts = []
    try:
        for r in plan.ranges:
            charts.append(_fetch_range(plan.symbol, r.start, r.end, result))
    except Exception as exc:  # noqa: BLE001 - one symbol's failure is reported, never raised
        result.error = describe(exc)
        if yahoo_fetch.is_rate_limited(exc):
            result.status = "waited"
        else:
            result.status, result.missing = "failed", yahoo_fetch.is_missing_symbol(exc)
        return result
    if all(c.empty for c in charts) and not plan.first_trade_known:
        result.status, result.missing = "failed", True
        result.error = f"no prices, dividends or splits from {plan.ranges[0].start} to {plan.ranges[-1].end}"
        return result
    rows = {
        "raw_stock_prices": [p.row() for c in charts for p in c.prices],
        "raw_dividends": [d.row() for c in charts for d in c.dividends],
        "raw_stock_splits": [s.row() for c in charts for s in c.splits],
    }
    first_trade = next((c.first_trade_date for c in charts if c.first_trade_date), None)
    _store(database_url, plan.symbol, rows, first_trade, result)
    return result


def _store(database_url: str, symbol: str, rows: dict[str, list[dict]], first_trade: dt.date | None,
           result: SymbolResult) -> None:
    from divpipe.db.upsert import bulk_upsert

    conn = _connection(database_url)
    try:
        for table in TABLES:
            if rows[table]:
                written = bulk_upsert(conn, table, rows[table], KEYS[table], commit=False)
                result.rows[table] = len(rows[table])
                result.changed += written.written
        if first_trade is not None:
            with conn.cursor() as cur:
                cur.execute("UPDATE raw_stocks SET first_trade_date = %s"
                            " WHERE symbol = %s AND first_trade_date IS DISTINCT FROM %s",
                            (first_trade, symbol, first_trade))
        conn.commit()
    except psycopg2.Error as err:
        conn.rollback()
        text = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatabaseError(f"writing {symbol}'s backfill: {text}") from err
    except BaseException:
        conn.rollback()
        raise


# -- cluster workers --------------------------------------------------------------------------

# Settings a worker takes from the client: every divpipe setting set here (a
# remote worker's environment knows nothing of this run), never the env file.
def _settings_environment() -> dict[str, str]:
    names = {f.env for f in FIELDS} - {"DIVPIPE_ENV_FILE"}
    env = {name: os.environ[name] for name in names if name in os.environ}
    env["DIVPIPE_ENV_FILE"] = os.devnull
    return env


def _worker_plugin(environment: dict[str, str]):
    from distributed import WorkerPlugin

    class BackfillWorker(WorkerPlugin):
        """Set up a worker process: this run's settings, yfinance, and the shared rate limit."""

        name = "divpipe-backfill"

        def __init__(self, env: dict[str, str]):
            self.env = env

        def setup(self, worker) -> None:
            from divpipe import config, net
            from divpipe.net import ratelimit, ratestore

            os.environ.update(self.env)
            config.reset_settings()
            net.reset()
            yahoo_fetch.prepare()
            # The Yahoo budget is the cluster's, not the worker's: join the shared store.
            ratelimit.configure(ratestore.from_settings(database_url=self.env["DATABASE_URL"]))

        def teardown(self, worker) -> None:
            close_connections()

    return BackfillWorker(environment)


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    options = parse_options(args, settings)
    if options.cluster and not os.environ.get("DATABASE_URL") and not settings.database_url:
        raise ConfigError(f"--scheduler {options.scheduler}: DATABASE_URL must name a PostgreSQL server the "
                          "workers can reach; the embedded database (under DIVPIPE_DATA_DIR) is this "
                          "machine's only")
    from divpipe.db.connect import connect, migrated_url

    started = time.monotonic()
    http_before = counters.stats()
    conn = connect(settings)
    try:
        if options.tickers:
            added = track_tickers(conn, options.tickers)
            if added:
                log.info("added %d untracked symbol(s) named by --tickers to raw_stocks", added)
        plans = _plan(conn, options, settings)
    finally:
        conn.close()
    if not plans:
        log.warning("⚠️ no symbols to backfill (raw_stocks is empty or every symbol is excluded); "
                    "name them with --tickers A,B")
        return EXIT_OK
    requests = sum(p.requests for p in plans)
    todo = [p for p in plans if p.ranges]
    log.info("backfill %s..%s (%d sessions): %d symbol(s), %d with gaps, %d request(s)%s",
             options.start, options.end, len(options.sessions), len(plans), len(todo), requests,
             " (--no-gaps: whole window)" if options.whole_window else "")
    if options.dry_run:
        for plan in todo:
            log.info("   %s: %s", plan.symbol, ", ".join(f"{r} ({r.sessions} sessions)" for r in plan.ranges))
        log.info("✅ dry run: %d request(s) for %d symbol(s); nothing fetched or written", requests, len(todo))
        return EXIT_OK
    if not todo:
        log.info("✅ backfill: no gaps in %d symbol(s): nothing to fetch", len(plans))
        return EXIT_OK
    url = migrated_url()
    results = (_run_cluster(todo, options, url) if options.cluster else _run_threads(todo, options, url))
    return _summary(results, len(plans), settings, http_before, time.monotonic() - started, options)


def _plan(conn, options: Options, settings: Settings) -> list[SymbolPlan]:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT s.symbol FROM raw_stocks s LEFT JOIN raw_excluded_symbols x USING (symbol)"
                        " WHERE (cardinality(%(t)s::text[]) = 0 AND x.excluded IS NOT TRUE)"
                        "    OR s.symbol = ANY(%(t)s::text[]) ORDER BY s.symbol",
                        {"t": list(options.tickers or ())})
            symbols = [row[0] for row in cur.fetchall()]
        gaps = backfill_plan.load_gaps(conn, symbols, options.sessions)
    except psycopg2.Error as err:
        text = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatabaseError(f"reading the gap plan: {text}") from err
    return backfill_plan.plan_all(gaps, options.sessions, settings.backfill_merge_sessions,
                                  options.whole_window)


def _report(result: SymbolResult) -> None:
    if result.status == "ok":
        log.info("%s: stored %d row(s) (%d new or changed) from %s", result.symbol, result.stored, result.changed,
                 ", ".join(result.ranges))
    else:
        log.warning("⚠️ %s: %s: %s", result.symbol, result.status, result.error)


def _run_threads(plans: list[SymbolPlan], options: Options, url: str) -> list[SymbolResult]:
    import dask
    from dask.callbacks import Callback
    from dask.diagnostics import ProgressBar

    yahoo_fetch.prepare()
    yahoo_fetch.seed_timezones(p.symbol for p in plans)
    tasks = [dask.delayed(_reported, pure=False)(plan, url) for plan in plans]
    every = max(10, min(500, len(plans) // 20))

    class Lines(Callback):
        """Plain progress lines for logs (a ProgressBar's carriage returns are noise there)."""

        def __init__(self):
            super().__init__()
            self.done, self.lock = 0, threading.Lock()

        def _posttask(self, key, result, dsk, state, worker_id):
            if not isinstance(result, SymbolResult):
                return
            with self.lock:
                self.done += 1
                if self.done % every == 0 and self.done < len(plans):
                    log.info("backfill progress: %d/%d symbols", self.done, len(plans))

    progress = ProgressBar() if sys.stderr.isatty() else Lines()
    log.info("running %d task(s) on dask's threads scheduler with %d worker(s)", len(plans), options.workers)
    try:
        with progress:
            return list(dask.compute(*tasks, scheduler="threads", num_workers=options.workers))
    finally:
        close_connections()


def _reported(plan: SymbolPlan, url: str) -> SymbolResult:
    result = backfill_symbol(plan, url)
    _report(result)
    return result


def _run_cluster(plans: list[SymbolPlan], options: Options, url: str) -> list[SymbolResult]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if options.scheduler == "processes":
        n = min(options.workers, os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=max(1, options.workers // n), processes=True,
                               dashboard_address=":0")
        address = cluster.scheduler_address
    else:
        address = options.scheduler
    try:
        with Client(address, timeout="30s") as client:
            log.info("Dask scheduler %s, dashboard %s, %d worker(s)", client.scheduler.address,
                     client.dashboard_link, len(client.scheduler_info().get("workers", {})))
            environment = {**_settings_environment(), "DATABASE_URL": url}
            client.register_plugin(_worker_plugin(environment), name="divpipe-backfill")
            # Each worker's yfinance timezone cache: without it, one extra chart request per symbol.
            client.run(yahoo_fetch.seed_timezones, [p.symbol for p in plans])
            futures = client.map(backfill_symbol, plans, database_url=url, pure=False,
                                 key=[f"backfill-{p.symbol}-{time.time_ns()}" for p in plans])
            if sys.stderr.isatty():
                from distributed import progress

                progress(futures)
            return _gather(as_completed(futures, with_results=True), len(plans))
    finally:
        if cluster is not None:
            cluster.close()


def _gather(completed: Iterable, total: int) -> list[SymbolResult]:
    """Results as they arrive: each is reported (stored) as soon as its worker committed it."""
    results = []
    every = max(10, min(500, total // 20))
    for future, result in completed:
        # Stored and reported: the cluster need not keep (nor recompute, should its worker die) the result.
        future.release()
        _report(result)
        results.append(result)
        if len(results) % every == 0 and len(results) < total:
            log.info("backfill progress: %d/%d symbols", len(results), total)
    return results


def _summary(results: list[SymbolResult], planned: int, settings: Settings, http_before, elapsed: float,
             options: Options) -> int:
    by_status = Counter(r.status for r in results)
    failures = [r for r in results if r.status == "failed"]
    marker = "✅" if not failures else "⚠️"
    log.info("%s backfill: %d ok, %d failed, %d waited, %d without gaps of %d symbols in %.1f s",
             marker, by_status["ok"], by_status["failed"], by_status["waited"], planned - len(results),
             planned, elapsed)
    rows = Counter()
    for r in results:
        rows.update(r.rows)
    for table in TABLES:
        log.info("   %s: %d row(s) stored", table, rows[table])
    log.info("   of which %d new or changed", sum(r.changed for r in results))
    requests = Counter(r.requests for r in results)
    log.info("   chart requests: %d for %d symbol(s) (%s)", sum(r.requests for r in results), len(results),
             ", ".join(f"{n} symbol(s) with {k}" for k, n in sorted(requests.items())))
    if not options.cluster:
        log.info("   HTTP requests: %s", yahoo_fetch.describe_request_counts(http_before))
    log.info("   per symbol (ranges, rows stored, requests, status):")
    for r in sorted(results, key=lambda r: r.symbol)[:MAX_SYMBOL_LINES]:
        log.info("   %s: %s; %d row(s); %d request(s); %s", r.symbol, ", ".join(r.ranges), r.stored,
                 r.requests, r.status)
    if len(results) > MAX_SYMBOL_LINES:
        log.info("   ... and %d more", len(results) - MAX_SYMBOL_LINES)
    if by_status["waited"]:
        log.warning("⚠️ %d symbol(s) only met Yahoo's rate limit: left for the next run, not counted as failed",
                    by_status["waited"])
    ratio = len(failures) / max(1, len(results))
    if ratio > settings.max_failure_ratio:
        log.error("❌ backfill failed: %d of %d symbols failed (%.0f%% > MAX_FAILURE_RATIO %.0f%%)",
                  len(failures), len(results), ratio * 100, settings.max_failure_ratio * 100)
        return EXIT_FAILURE
    return EXIT_OK

