"""Calling Yahoo through yfinance, politely: the helpers every Yahoo job shares.

Call `prepare()` once per process before anything else here. Then:

- `seed_timezones(symbols)`: saves yfinance's timezone probe (one extra chart
  request) for symbols it has never seen; all of ours trade in New York.
- `fetch_chart(symbol, start)`: ONE chart request (prices, dividends and splits
  together) from `start` to now -> `sources.yahoo.Chart`.
- `fetch_company(symbol)`: `Ticker.info` (quoteSummary + quote + timeseries)
  -> `sources.yahoo.Company`; raises `SymbolNotFound` when Yahoo knows nothing.
- `yahoo_fanout(items, fn, workers=N)`: `divpipe.fanout.fanout` set up for Yahoo:
  threads named `yahoo_N`, YFRateLimitError (yfinance's 429) recognised as a
  rate limit, and a cool-down that also pauses the shared Yahoo rate
  limiter, so every Yahoo caller of the run waits (all processes), not only
  the pool's workers. A symbol refused too long is tried again after the
  others, and at worst left for the next run, never failed. 5xx, timeouts and resets never get here: net retried them.
- `is_missing_symbol(exc)`: the failure says the symbol has no data (delisted,
  unknown) as opposed to a transient problem; only those count towards
  exclusion. `yahoo_fanout` makes sure a "no data" that yfinance derived from
  a server error or timeout (after the HTTP layer's retries) arrives as
  `YahooUnavailable` instead, which does not count.
- `yahoo_request_count()`, `request_counts_since(snapshot)`, `describe_request_counts(snapshot)`:
  HTTP requests sent, for summaries.

Symbols are given and returned in our spelling (BRK.B); the translation to
Yahoo's (BRK-B) happens here. Rate limits, retries, the simulator redirect
and the persistent timezone cache are `divpipe.net.yahoo`'s business.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from divpipe.config import get_settings
from divpipe.errors import DatabaseError
from divpipe.fanout import CoolDown, FanoutStats, Outcome, describe, fanout
from divpipe.market_time import EXCHANGE_TZ, EXCHANGE_TZ_NAME
from divpipe.net import counters
from divpipe.net import yahoo as net_yahoo
from divpipe.net.hosts import source_for_host
from divpipe.sources import yahoo as source

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class SymbolNotFound(Exception):
    """Yahoo answered, but has nothing for this symbol (delisted, unknown, no trading)."""


class YahooUnavailable(Exception):
    """Yahoo failed (5xx, timeouts, resets, 429) while answering for a symbol.

    Raised in place of a "no data" error that yfinance made out of such a
    failure: it is Yahoo's trouble that night, not the symbol's.
    """


# What Yahoo says, in the description of a chart error, when it has no data
# for a symbol; any other description (a bad request, a server error) is not
# about the symbol.
_NO_DATA_REASON = re.compile(r"delisted|no data found|data doesn't exist", re.IGNORECASE)


def prepare() -> None:
    """Point yfinance at our HTTP layer and caches; make it raise instead of logging (idempotent)."""
    net_yahoo.prepare_yfinance()
    import yfinance as yf

    # With hidden exceptions yfinance logs a delisted symbol and returns an
    # empty frame; we want the exception, to record the reason per symbol.
    yf.config.debug.hide_exceptions = False
    # yfinance re-enables deprecation warnings for itself, and pandas 3 warns
    # about its inplace= calls: one line per symbol in a nightly log otherwise.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="yfinance")


def seed_timezones(symbols: Iterable[str]) -> int:
    """Tell yfinance's persistent tz cache that symbols it has never seen trade in New York.

    Every symbol the pipeline tracks is listed on a US exchange (NASDAQ
    Trader's directory, US dividend calendars), and all of those keep New
    York time. Without an entry, yfinance spends an extra chart request per
    new symbol just to learn that. Returns how many entries were added; any
    problem with the cache (it is yfinance's private table) only costs those
    probes, never the run.
    """
    try:
        from yfinance import cache

        tz_cache = cache.get_tz_cache()
        tz_cache.initialise()
        if getattr(tz_cache, "initialised", 0) != 1:
            return 0
        table = cache._TZ_KV
        known = {row.key for row in table.select(table.key)}
        missing = sorted({source.to_yahoo_symbol(s) for s in symbols} - known)
        with tz_cache.get_db().atomic():
            for start in range(0, len(missing), 500):
                rows = [{"key": key, "value": EXCHANGE_TZ_NAME} for key in missing[start:start + 500]]
                table.insert_many(rows).on_conflict_ignore().execute()
        return len(missing)
    except Exception as err:  # noqa: BLE001 - an optimisation must not fail the run
        log.debug("tz cache not seeded: %s", describe(err))
        return 0


def _ticker(symbol: str):
    import yfinance as yf

    # Hidden exceptions are yfinance's default: seeing them on means this
    # process (or a test's reset of yfinance's state) has not prepared it yet.
    if yf.config.debug.hide_exceptions:
        prepare()
    return yf.Ticker(source.to_yahoo_symbol(symbol))


def fetch_chart(symbol: str, start: dt.date, end: dt.date | None = None) -> source.Chart:
    """Prices, dividends and splits of `symbol` from `start` to `end` (both inclusive; no
    `end`: to now), in ONE chart request.

    A ticker whose timezone is not in yfinance's persistent cache costs one
    extra small chart request the first time. Never uses `Ticker.dividends`
    or `.splits`: each of those fetches the whole history. The chart's
    `first_trade_date` is Yahoo's own (the answer's metadata; no extra request).
    """
    settings = get_settings()
    ticker = _ticker(symbol)
    frame = ticker.history(
        start=start.isoformat(), interval="1d", actions=True, auto_adjust=False,
        # yfinance's end is exclusive.
        end=(end + dt.timedelta(days=1)).isoformat() if end is not None else None,
        timeout=settings.http_read_timeout,
    )
    chart = source.parse_history(symbol, frame)
    chart.first_trade_date = _first_trade_date(ticker)
    return chart


def _first_trade_date(ticker) -> dt.date | None:
    # The metadata of the answer just received: read the attribute, never the
    # `history_metadata` property, which asks Yahoo again when it is missing.
    scraper = getattr(ticker, "_price_history", None)
    meta = getattr(scraper, "_history_metadata", None) or {}
    first = meta.get("firstTradeDate")
    try:
        if isinstance(first, int | float):
            return dt.datetime.fromtimestamp(first, dt.UTC).astimezone(EXCHANGE_TZ).date()
        if first is not None and hasattr(first, "date"):  # a Timestamp, when yfinance converted it
            return first.date()
    except (OverflowError, OSError, ValueError):
        pass
    return None


def fetch_company(symbol: str) -> source.Company:
    """The company columns of `raw_stocks` from `Ticker.info` (about 3 requests)."""
    company = source.parse_info(symbol, _ticker(symbol).info)
    if not company.has_data:
        raise SymbolNotFound(f"Yahoo has no company data for {symbol}")
    return company


def is_rate_limited(exc: BaseException) -> bool:
    """yfinance's YFRateLimitError, or a 429 it let through as the session's HTTPError."""
    from yfinance.exceptions import YFRateLimitError

    if isinstance(exc, YFRateLimitError):
        return True
    return getattr(getattr(exc, "response", None), "status_code", None) == 429


def is_missing_symbol(exc: BaseException | None) -> bool:
    """Yahoo said it has nothing for the symbol: yfinance's "possibly delisted" and
    "no timezone found" errors, a chart error whose reason says the data does not
    exist, an empty answer, or an HTTP 404 (which `.info`, also used by yfinance's
    timezone fallback, lets through as the session's HTTPError).

    Not a `YahooUnavailable`, nor a chart error with any other reason (Yahoo's
    "Internal Server Error", "Invalid input"): those say nothing about the symbol.
    """
    from yfinance.exceptions import YFPricesMissingError, YFTickerMissingError

    if isinstance(exc, YFPricesMissingError) and exc.yahoo_reason is not None:
        return bool(_NO_DATA_REASON.search(exc.yahoo_reason))
    if isinstance(exc, SymbolNotFound | YFTickerMissingError):
        return True
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 404


def blaming_yahoo_failures(fn: Callable[[T], R]) -> Callable[[T], R]:
    """`fn`, but a "no data" error it raises after Yahoo failed it becomes `YahooUnavailable`.

    yfinance reports a timezone probe that timed out, or a 5xx with a JSON
    body, with the same errors as an unknown symbol; the HTTP layer knows
    which requests it gave up on (in this thread), so ask it.
    """
    @functools.wraps(fn)
    def call(item: T) -> R:
        with net_yahoo.failed_requests() as failed:
            try:
                return fn(item)
            except Exception as exc:
                if failed and is_missing_symbol(exc):
                    raise YahooUnavailable(f"Yahoo failed ({failed[-1]}), so this says nothing "
                                           f"about the symbol: {describe(exc)}") from exc
                raise

    return call


class YahooCoolDown(CoolDown):
    """The pool's cool-down, extended to the shared Yahoo rate limiter (every process)."""

    def trip(self) -> float:
        pause = super().trip()
        if pause > net_yahoo.cooldown_remaining():
            net_yahoo.cooldown(pause)
        return pause


def yahoo_fanout(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    total: int | None = None,
    stats: FanoutStats | None = None,
    progress_every: int = 100,
    tty: bool | None = None,
) -> Iterator[Outcome[T, R]]:
    """`fanout` for Yahoo calls; a DatabaseError raised by `fn` stops the run.

    `fn` runs under `blaming_yahoo_failures`, so `is_missing_symbol` of an
    outcome's exception is true only when Yahoo really answered "no data".
    """
    settings = get_settings()
    cooldown = YahooCoolDown(base=max(1.0, settings.http_backoff * 4), maximum=120.0)
    return fanout(
        items, blaming_yahoo_failures(fn), workers=workers, name="yahoo", total=total, stats=stats, cooldown=cooldown,
        is_rate_limit=is_rate_limited, fatal=(DatabaseError,), progress_every=progress_every, tty=tty,
    )


def yahoo_request_count() -> int:
    """HTTP requests (every attempt) this process sent to Yahoo's hosts so far."""
    return sum(c["requests"] for host, c in counters.stats().items() if source_for_host(host) == "yahoo")


def request_counts_since(before: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
    """{host: requests sent since the `divpipe.net.stats()` snapshot `before`}, hosts with any."""
    before = before or {}
    counts = {}
    for host, c in counters.stats().items():
        n = c["requests"] - before.get(host, {}).get("requests", 0)
        if n:
            counts[host] = n
    return counts


def describe_request_counts(before: dict[str, dict[str, Any]] | None = None) -> str:
    """"412 (query2.finance.yahoo.com 400, fc.yahoo.com 12)": requests per host since `before`."""
    per_host = request_counts_since(before)
    if not per_host:
        return "0"
    detail = ", ".join(f"{h} {n}" for h, n in sorted(per_host.items(), key=lambda kv: -kv[1]))
    return f"{sum(per_host.values())} ({detail})"
