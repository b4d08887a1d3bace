"""`raw_excluded_symbols`: which symbols keep failing, and which are left out of the update.

A symbol is excluded only after `EXCLUDE_AFTER_FAILURES` consecutive failed
runs, never after one: a transient failure (one bad night at Yahoo) must not
drop a symbol forever. One success forgets the symbol's failures, and also
lifts an exclusion (it can only succeed when someone named it explicitly with
`--tickers`, and then it is evidently alive).

Only failures that say "this symbol has no data" count; rate limits,
timeouts and server errors are the source's trouble, not the symbol's, and
the update job does not pass them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg2

from divpipe.errors import DatabaseError

# Reasons are log lines; keep the table readable.
MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class FailureCount:
    symbol: str
    consecutive_failures: int
    excluded: bool


def record_failures(conn, failures: Sequence[tuple[str, str]], threshold: int) -> list[FailureCount]:
    """Count one more failed run for each (symbol, reason); exclude at `threshold`.

    Part of the caller's transaction (no commit). Returns the new counts.
    """
    if not failures:
        return []
    symbols = [s for s, _ in failures]
    reasons = [r[:MAX_REASON_CHARS] for _, r in failures]
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO raw_excluded_symbols AS x
                       (symbol, reason, consecutive_failures, first_failed_at, last_failed_at, excluded)
                SELECT f.symbol, f.reason, 1, now(), now(), 1 >= %(threshold)s
                  FROM unnest(%(symbols)s::text[], %(reasons)s::text[]) AS f(symbol, reason)
                ON CONFLICT (symbol) DO UPDATE SET
                       reason = EXCLUDED.reason,
                       consecutive_failures = x.consecutive_failures + 1,
                       first_failed_at = COALESCE(x.first_failed_at, now()),
                       last_failed_at = now(),
                       excluded = x.excluded OR x.consecutive_failures + 1 >= %(threshold)s
                RETURNING symbol, consecutive_failures, excluded
                """,
                {"threshold": threshold, "symbols": symbols, "reasons": reasons},
            )
            rows = cur.fetchall()
    except psycopg2.Error as err:
        raise DatabaseError(f"recording failures in raw_excluded_symbols: {_first_line(err)}") from err
    return sorted((FailureCount(*row) for row in rows), key=lambda c: c.symbol)


def record_successes(conn, symbols: Sequence[str]) -> int:
    """Forget the failures (and any exclusion) of symbols that just succeeded.

    Part of the caller's transaction. Returns how many symbols had a record.
    """
    if not symbols:
        return 0
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM raw_excluded_symbols WHERE symbol = ANY(%s)", (list(symbols),))
            return cur.rowcount
    except psycopg2.Error as err:
        raise DatabaseError(f"resetting raw_excluded_symbols: {_first_line(err)}") from err


def excluded_symbols(conn) -> set[str]:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT symbol FROM raw_excluded_symbols WHERE excluded")
            return {row[0] for row in cur.fetchall()}
    except psycopg2.Error as err:
        raise DatabaseError(f"reading raw_excluded_symbols: {_first_line(err)}") from err


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
