"""`update_stock_v2.py --mode future-dividends [--days-ahead 90]`.

Consolidates the upcoming dividends of the scraped tables (the registry's) into
`raw_future_dividends`, one row per distribution with ex_date in
[today, today + N], today being the exchange's date (America/New_York).

How many distributions an ex-date has: as many as the source that lists the
most of them for that symbol and ex-date (ties: the higher-ranked source).
- One (the usual case): the sources' rows are one distribution, merged as
  below; its type is the first known type (not "unknown") in precedence order.
- Several (a regular and a supplemental dividend, say): the rows of that one
  source, each with its own type, seq and values. Other sources are not
  merged in: with several distributions and no shared key, a value could not
  be matched to the right one.

Precedence, highest first, decided separately for the amount and for each
date column: the first source, in this order, that has a non-NULL value
wins, so a source without an amount never hides one that has it. The order
and the reason for each rank are in the registry (divpipe/sources/registry.py,
`precedence` and `precedence_reason`) and in docs/sources.md:

1. yieldmax  - the issuer's own page for its funds
2. cboe      - the exchange's dividend notice
3. polygon   - a vendor's reference feed: every US payer, typed, corrected by id
4. nasdaq    - NASDAQ's dividend calendar (no type)
5. snowball  - an aggregator (declared dividends only)
6. nyse      - the NYSE exceptions list (dates, never an amount)

`source` names the source whose amount was used (the highest-ranked source
present when none has an amount).

The whole job is one transaction, set-based in SQL: the consolidated set is
computed once into a temporary table, upserted (rows whose values did not
change are not touched), and every stored row outside that set - past,
beyond the window, or gone from every source - is deleted. Readers see the
old table or the new one, never a half-built one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from dataclasses import dataclass

from divpipe.db.connect import connect
from divpipe.db.failures import database_errors
from divpipe.market_time import exchange_today
from divpipe.sources import registry

log = logging.getLogger(__name__)

# (source name, table), highest precedence first, from the registry. Table names are constants, never input.
SOURCES: tuple[tuple[str, str], ...] = tuple((spec.name, spec.table or "") for spec in registry.by_precedence())
_FILTERS = {spec.name: spec.future_filter for spec in registry.by_precedence()}
MAX_DAYS_AHEAD = 3660
# Amounts that differ by less than this are the same amount printed with
# different rounding (0.45 vs 0.4500001), not a conflict.
CONFLICT_TOLERANCE = 0.000001
MAX_CONFLICT_LINES = 25


@dataclass(frozen=True)
class Conflict:
    symbol: str
    ex_date: dt.date
    amounts: str  # "cboe=0.25, nasdaq=0.26"


@dataclass(frozen=True)
class Result:
    window: tuple[dt.date, dt.date]
    per_source: dict[str, int]
    winners: dict[str, int]
    total: int
    several: int  # distributions on ex-dates that have more than one
    inserted: int
    updated: int
    removed: int
    conflicts: list[Conflict]


def _days_ahead(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 0 <= value <= MAX_DAYS_AHEAD:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_DAYS_AHEAD}, got {value}")
    return value


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days-ahead", type=_days_ahead, default=90,
                        help="consolidate ex-dates from today to today + N days (default 90)")
    parser.add_argument("--as-of", type=_iso_date, default=None, metavar="YYYY-MM-DD",
                        help="treat this date as today (default: today in New York)")


def _candidates_sql() -> str:
    parts = []
    for rank, (name, table) in enumerate(SOURCES, start=1):
        extra = f" AND ({_FILTERS[name]})" if _FILTERS[name] else ""
        parts.append(
            f"SELECT {rank} AS rank, '{name}'::text AS source, symbol, ex_date, distribution_type, seq, amount,"
            f" payment_date, record_date, declaration_date FROM {table}"
            f" WHERE ex_date BETWEEN %(start)s AND %(end)s{extra}"
        )
    return " UNION ALL ".join(parts)


def _first(column: str) -> str:
    """The highest-ranked non-NULL value of `column` in a group."""
    return f"(array_agg({column} ORDER BY rank) FILTER (WHERE {column} IS NOT NULL))[1]"


# `several`: the ex-dates where some source lists more than one distribution,
# with the source that lists the most (ties: the higher-ranked). They are few,
# so everything else stays one plain GROUP BY, as fast as a single pass.
_MERGE_SQL = f"""
CREATE TEMP TABLE _future_consolidated ON COMMIT DROP AS
WITH several AS (
    SELECT DISTINCT ON (symbol, ex_date) symbol, ex_date, source
    FROM (SELECT symbol, ex_date, source, min(rank) AS rank, count(*) AS n
          FROM _future_candidates GROUP BY symbol, ex_date, source HAVING count(*) > 1) AS listed
    ORDER BY symbol, ex_date, n DESC, rank
)
SELECT c.symbol, c.ex_date,
       COALESCE((array_agg(c.distribution_type ORDER BY c.rank)
                 FILTER (WHERE c.distribution_type <> 'unknown'))[1], 'unknown') AS distribution_type,
       1::smallint AS seq,
       {_first('c.amount')} AS amount,
       {_first('c.payment_date')} AS payment_date,
       {_first('c.record_date')} AS record_date,
       {_first('c.declaration_date')} AS declaration_date,
       COALESCE((array_agg(c.source ORDER BY c.rank) FILTER (WHERE c.amount IS NOT NULL))[1],
                (array_agg(c.source ORDER BY c.rank))[1]) AS source
FROM _future_candidates c
WHERE NOT EXISTS (SELECT 1 FROM several s WHERE s.symbol = c.symbol AND s.ex_date = c.ex_date)
GROUP BY c.symbol, c.ex_date
UNION ALL
SELECT c.symbol, c.ex_date, c.distribution_type, c.seq, c.amount, c.payment_date, c.record_date,
       c.declaration_date, c.source
FROM _future_candidates c
JOIN several s ON s.symbol = c.symbol AND s.ex_date = c.ex_date AND s.source = c.source
"""

# A value is only replaced by a non-NULL one: when every source lost the
# amount, the row keeps the one it had (and the source that gave it).
_UPSERT_SQL = """
WITH written AS (
    INSERT INTO raw_future_dividends AS f
        (symbol, ex_date, distribution_type, seq, amount, payment_date, record_date, declaration_date,
         source, updated_at)
    SELECT symbol, ex_date, distribution_type, seq, amount, payment_date, record_date, declaration_date,
           source, now()
    FROM _future_consolidated
    ON CONFLICT (symbol, ex_date, distribution_type, seq) DO UPDATE SET
        amount = COALESCE(EXCLUDED.amount, f.amount),
        payment_date = COALESCE(EXCLUDED.payment_date, f.payment_date),
        record_date = COALESCE(EXCLUDED.record_date, f.record_date),
        declaration_date = COALESCE(EXCLUDED.declaration_date, f.declaration_date),
        source = CASE WHEN EXCLUDED.amount IS NULL AND f.amount IS NOT NULL
                      THEN f.source ELSE EXCLUDED.source END,
        updated_at = now()
    WHERE (EXCLUDED.amount IS NOT NULL AND EXCLUDED.amount IS DISTINCT FROM f.amount)
       OR (EXCLUDED.payment_date IS NOT NULL AND EXCLUDED.payment_date IS DISTINCT FROM f.payment_date)
       OR (EXCLUDED.record_date IS NOT NULL AND EXCLUDED.record_date IS DISTINCT FROM f.record_date)
       OR (EXCLUDED.declaration_date IS NOT NULL
           AND EXCLUDED.declaration_date IS DISTINCT FROM f.declaration_date)
       OR (CASE WHEN EXCLUDED.amount IS NULL AND f.amount IS NOT NULL
                THEN f.source ELSE EXCLUDED.source END) IS DISTINCT FROM f.source
    RETURNING (xmax = 0) AS inserted
),
removed AS (
    DELETE FROM raw_future_dividends f
    WHERE NOT EXISTS (SELECT 1 FROM _future_consolidated c
                      WHERE c.symbol = f.symbol AND c.ex_date = f.ex_date
                        AND c.distribution_type = f.distribution_type AND c.seq = f.seq)
    RETURNING 1
)
SELECT (SELECT count(*) FILTER (WHERE inserted) FROM written),
       (SELECT count(*) FILTER (WHERE NOT inserted) FROM written),
       (SELECT count(*) FROM removed),
       (SELECT count(*) FROM _future_consolidated),
       (SELECT count(*) FROM (SELECT count(*) OVER (PARTITION BY symbol, ex_date) AS n
                              FROM _future_consolidated) AS x WHERE n > 1)
"""

# Amounts of one distribution that sources disagree on. Only ex-dates where
# every source lists one distribution: several are different amounts by nature.
_CONFLICTS_SQL = """
SELECT symbol, ex_date,
       string_agg(source || '=' || trim_scale(amount)::text, ', ' ORDER BY rank)
FROM _future_candidates
WHERE amount IS NOT NULL
GROUP BY symbol, ex_date
HAVING max(amount) - min(amount) > %(tolerance)s
   AND count(*) = count(DISTINCT source)
ORDER BY symbol, ex_date
"""


def consolidate(conn, today: dt.date, days_ahead: int) -> Result:
    """Rebuild raw_future_dividends for [today, today + days_ahead] in one transaction."""
    start, end = today, today + dt.timedelta(days=days_ahead)
    params = {"start": start, "end": end, "tolerance": CONFLICT_TOLERANCE}
    with database_errors("consolidating raw_future_dividends"), conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE _future_candidates ON COMMIT DROP AS " + _candidates_sql(), params
        )
        cur.execute("SELECT source, count(*) FROM _future_candidates GROUP BY source")
        per_source = dict(cur.fetchall())
        cur.execute(_CONFLICTS_SQL, params)
        conflicts = [Conflict(*row) for row in cur.fetchall()]
        cur.execute(_MERGE_SQL)
        cur.execute("SELECT source, count(*) FROM _future_consolidated GROUP BY source")
        winners = dict(cur.fetchall())
        cur.execute(_UPSERT_SQL)
        inserted, updated, removed, total, several = cur.fetchone()
    return Result(
        window=(start, end),
        per_source={name: per_source.get(name, 0) for name, _ in SOURCES},
        winners={name: winners.get(name, 0) for name, _ in SOURCES},
        total=total,
        several=several,
        inserted=inserted,
        updated=updated,
        removed=removed,
        conflicts=conflicts,
    )


def summary_line(result: Result) -> str:
    per_source = " ".join(f"{name}={count}" for name, count in result.per_source.items())
    winners = " ".join(f"{name}={count}" for name, count in result.winners.items() if count)
    start, end = result.window
    return (
        f"✅ future dividends {start}..{end}: {result.total} distribution{'' if result.total == 1 else 's'}"
        f" ({result.inserted} new, {result.updated} changed, {result.removed} removed;"
        f" {result.several} sharing an ex-date with another);"
        f" rows per source: {per_source}; amounts from: {winners or 'none'};"
        f" conflicts: {len(result.conflicts)}"
    )


def run(args: argparse.Namespace) -> int:
    today = args.as_of or exchange_today()
    conn = connect()
    try:
        result = consolidate(conn, today, args.days_ahead)
    finally:
        conn.close()
    for conflict in result.conflicts[:MAX_CONFLICT_LINES]:
        log.warning("⚠️ conflicting amounts for %s ex %s: %s", conflict.symbol, conflict.ex_date,
                    conflict.amounts)
    if len(result.conflicts) > MAX_CONFLICT_LINES:
        log.warning("⚠️ ... and %d more conflicts", len(result.conflicts) - MAX_CONFLICT_LINES)
    log.info("%s", summary_line(result))
    return 0
