"""The backfill's gap plan: which date ranges each symbol is missing, and the requests that fill them.

Two steps, kept apart so the rules can be tested on hand-made histories:

- `load_gaps(conn, symbols, sessions)`: ONE query over all requested symbols
  compares the stored price dates with the exchange sessions of the window
  and returns, per symbol, its runs of missing sessions (gaps-and-islands in
  SQL) and what bounds the source's history (first trade date, delisting).
- `plan_symbol(...)`: a pure function from those to the requests.

The rules (docs/jobs.md, "Backfill"):

- Only XNYS sessions count (exchange-calendars): a holiday or weekend is never a gap.
- A symbol's history starts at its first trade date: `raw_stocks.first_trade_date`,
  stored by the backfill from the first date Yahoo says the symbol has
  (the chart's `firstTradeDate`). Sessions before it are not gaps. Unknown
  (a symbol never backfilled), the whole window counts, and the first request
  learns it.
- A delisted symbol (excluded after repeated "no data" failures, see
  `jobs/exclusions.py`) has no gap after its last stored bar: the source has
  nothing more to give.
- Merge rule: two gaps of one symbol become one request when at most
  `merge_sessions` stored sessions lie between them (BACKFILL_MERGE_SESSIONS,
  a year by default). One chart request returns years of daily bars for
  about the price of one: re-reading a few hundred stored bars (rewritten
  unchanged, so nothing is updated) costs less than a second request against
  the rate limit.
- `--no-gaps` asks for the whole window (within the same first and last trade
  dates) in one request per symbol.
- A symbol without gaps gets no request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from divpipe.errors import ConfigError


@dataclass(frozen=True)
class Run:
    """Consecutive missing sessions: `first`..`last` are indices into the window's sessions."""

    first: int
    last: int


@dataclass
class SymbolGaps:
    """What the database says about one symbol in the window."""

    symbol: str
    missing: list[Run] = field(default_factory=list)
    first_trade_date: dt.date | None = None  # the source has nothing before it
    delisted: bool = False
    last_stored: dt.date | None = None  # latest stored bar (any date)


@dataclass(frozen=True)
class Range:
    start: dt.date
    end: dt.date  # inclusive
    sessions: int  # missing sessions it fills (the whole range with --no-gaps)

    def __str__(self) -> str:
        return f"{self.start}..{self.end}" if self.start != self.end else str(self.start)


@dataclass(frozen=True)
class SymbolPlan:
    symbol: str
    ranges: tuple[Range, ...]
    first_trade_known: bool = True

    @property
    def requests(self) -> int:
        return len(self.ranges)

    def __str__(self) -> str:
        return self.symbol


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """XNYS sessions from `start` to `end`, both inclusive."""
    import exchange_calendars
    import pandas as pd

    if end < start:
        return []
    # The default calendar spans 20 years back: build one that covers the window.
    # (From a few days earlier: asking for sessions from a date before the
    # calendar's first session is an error, even on a weekend.)
    first = min(start, dt.date.today() - dt.timedelta(days=365)) - dt.timedelta(days=10)
    try:
        calendar = exchange_calendars.get_calendar("XNYS", start=pd.Timestamp(first),
                                                   end=pd.Timestamp(dt.date.today() + dt.timedelta(days=300)))
    except Exception as err:  # noqa: BLE001 - exchange-calendars' errors name the bound in their text
        raise ConfigError(f"XNYS calendar does not cover {start}..{end}: {str(err).splitlines()[0]}") from None
    return [d.date() for d in calendar.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def last_sessions(count: int, before: dt.date) -> list[dt.date]:
    """The `count` XNYS sessions that end just before `before` (which is left out)."""
    # 7 calendar days hold at least 3 sessions, whatever the holidays.
    span = dt.timedelta(days=count * 7 // 3 + 10)
    return sessions_between(before - span, before - dt.timedelta(days=1))[-count:]


GAPS_SQL = """
WITH sessions AS (
    SELECT d, (i - 1)::int AS i FROM unnest(%(sessions)s::date[]) WITH ORDINALITY AS s(d, i)
), wanted AS (
    SELECT unnest(%(symbols)s::text[]) AS symbol
), missing AS (
    SELECT w.symbol, s.i
      FROM wanted w CROSS JOIN sessions s
     WHERE NOT EXISTS (SELECT 1 FROM raw_stock_prices p WHERE p.symbol = w.symbol AND p.date = s.d)
), runs AS (
    -- Gaps and islands: consecutive session indices share i - row_number().
    SELECT symbol, min(i) AS first, max(i) AS last
      FROM (SELECT symbol, i, i - row_number() OVER (PARTITION BY symbol ORDER BY i) AS island
              FROM missing) m
     GROUP BY symbol, island
)
SELECT w.symbol, st.first_trade_date, COALESCE(x.excluded, false),
       (SELECT max(p.date) FROM raw_stock_prices p WHERE p.symbol = w.symbol),
       r.first, r.last
  FROM wanted w
  LEFT JOIN raw_stocks st ON st.symbol = w.symbol
  LEFT JOIN raw_excluded_symbols x ON x.symbol = w.symbol
  LEFT JOIN runs r ON r.symbol = w.symbol
 ORDER BY w.symbol, r.first
"""


def load_gaps(conn, symbols: Sequence[str], sessions: Sequence[dt.date]) -> list[SymbolGaps]:
    """ONE query: every requested symbol's runs of missing sessions in the window, in symbol order."""
    with conn.cursor() as cur:
        cur.execute(GAPS_SQL, {"symbols": list(symbols), "sessions": list(sessions)})
        rows = cur.fetchall()
    conn.commit()
    found: dict[str, SymbolGaps] = {}
    for symbol, first_trade, delisted, last_stored, first, last in rows:
        gaps = found.get(symbol)
        if gaps is None:
            gaps = found[symbol] = SymbolGaps(symbol, [], first_trade, bool(delisted), last_stored)
        if first is not None:
            gaps.missing.append(Run(first, last))
    return list(found.values())


def plan_symbol(gaps: SymbolGaps, sessions: Sequence[dt.date], merge_sessions: int,
                whole_window: bool = False) -> SymbolPlan:
    """The requests that fill `gaps` (see the module's rules). Pure."""
    if not sessions:
        return SymbolPlan(gaps.symbol, ())
    # The source's own bounds, as session indices: [lo, hi].
    lo, hi = 0, len(sessions) - 1
    if gaps.first_trade_date is not None:
        while lo <= hi and sessions[lo] < gaps.first_trade_date:
            lo += 1
    if gaps.delisted:
        if gaps.last_stored is None:
            hi = -1  # delisted with nothing stored: the source has nothing to give
        while hi >= lo and sessions[hi] > gaps.last_stored:
            hi -= 1
    if hi < lo:
        runs: list[Run] = []
    elif whole_window:
        runs = [Run(lo, hi)]
    else:
        runs = [Run(max(r.first, lo), min(r.last, hi)) for r in gaps.missing if r.last >= lo and r.first <= hi]
    merged: list[tuple[Run, int]] = []  # (span, missing sessions in it)
    for run in runs:
        count = run.last - run.first + 1
        if merged and run.first - merged[-1][0].last - 1 <= merge_sessions:
            span, missing = merged[-1]
            merged[-1] = (Run(span.first, run.last), missing + count)
        else:
            merged.append((run, count))
    ranges = tuple(Range(sessions[r.first], sessions[r.last], n) for r, n in merged)
    return SymbolPlan(gaps.symbol, ranges, gaps.first_trade_date is not None)


def plan_all(gaps: Sequence[SymbolGaps], sessions: Sequence[dt.date], merge_sessions: int,
             whole_window: bool = False) -> list[SymbolPlan]:
    return [plan_symbol(g, sessions, merge_sessions, whole_window) for g in gaps]
