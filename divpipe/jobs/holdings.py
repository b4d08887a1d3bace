"""`update_stock_v2.py --mode update-holdings`: the top holdings of every ETF.

For each `raw_stocks` row with quote_type 'ETF' (excluded symbols aside),
fetch `funds_data.top_holdings` through yfinance (one quoteSummary request),
then write everything in ONE transaction:

- `raw_stocks.holdings` (a JSON list of {symbol, name, weight}) and
  `holdings_updated_at`, only when the holdings changed or were last
  confirmed on an earlier day;
- one `raw_holdings_history` row per ETF per day (the exchange's date), kept
  equal to the latest holdings of that day.

So a second run on the same day adds no row and changes nothing. An ETF for
which Yahoo lists no holdings keeps what it had and is counted, not failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field

from psycopg2.extras import execute_values

from divpipe.config import get_settings
from divpipe.db.connect import connect
from divpipe.db.failures import database_errors, lock_rows_in_key_order
from divpipe.db.upsert import check_rows
from divpipe.jobs import yahoo_fetch
from divpipe.market_time import exchange_today
from divpipe.net import counters
from divpipe.sources import yahoo_funds
from divpipe.sources.yahoo import to_yahoo_symbol

log = logging.getLogger(__name__)

MAX_WARNING_LINES = 25


class NoHoldings(Exception):
    """Yahoo answered but lists no holdings for the fund."""


@dataclass
class Tally:
    etfs: int = 0
    changed: int = 0
    confirmed: int = 0
    unchanged: int = 0
    history_added: int = 0
    no_holdings: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def line(self, seconds: float, requests: str) -> str:
        return (
            f"update-holdings: {self.etfs} ETFs; holdings changed {self.changed},"
            f" confirmed {self.confirmed}, unchanged today {self.unchanged};"
            f" history rows added {self.history_added}; no holdings {len(self.no_holdings)},"
            f" unknown to Yahoo {len(self.unknown)}, failed {len(self.failed)};"
            f" {seconds:.1f}s, Yahoo requests {requests}"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: every ETF is refreshed on every run."""


def load_etfs(conn) -> list[str]:
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT s.symbol FROM raw_stocks s"
            " LEFT JOIN raw_excluded_symbols x ON x.symbol = s.symbol AND x.excluded"
            " WHERE s.quote_type = 'ETF' AND x.symbol IS NULL ORDER BY s.symbol"
        )
        return [row[0] for row in cur.fetchall()]


def fetch_holdings(symbol: str) -> list[yahoo_funds.Holding]:
    """One fund's top holdings; NoHoldings when Yahoo lists none."""
    import yfinance as yf

    try:
        frame = yf.Ticker(to_yahoo_symbol(symbol)).funds_data.top_holdings
    except KeyError as err:
        # yfinance's way of saying the answer had no topHoldings module at all.
        raise NoHoldings(f"no fund data ({err})") from None
    holdings = yahoo_funds.parse_top_holdings(symbol, frame)
    if not holdings:
        raise NoHoldings("Yahoo lists no holdings")
    return holdings


_STAGE_SQL = """
CREATE TEMP TABLE _holdings_new (symbol text PRIMARY KEY, holdings jsonb NOT NULL,
                                 holdings_count integer NOT NULL) ON COMMIT DROP
"""

# holdings_updated_at says when the holdings were last seen: it moves when they
# change, and once a day when they are confirmed, never on a same-day re-run.
_STOCKS_SQL = """
WITH written AS (
    UPDATE raw_stocks s
    SET holdings = n.holdings, holdings_updated_at = now()
    FROM _holdings_new n
    WHERE s.symbol = n.symbol
      AND (s.holdings IS DISTINCT FROM n.holdings
           OR s.holdings_updated_at IS NULL
           OR (s.holdings_updated_at AT TIME ZONE 'America/New_York')::date < %(today)s)
    RETURNING s.symbol
)
SELECT count(*) FILTER (WHERE o.holdings IS DISTINCT FROM n.holdings),
       count(*) FILTER (WHERE o.holdings IS NOT DISTINCT FROM n.holdings)
FROM written w
JOIN _holdings_new n USING (symbol)
JOIN raw_stocks o USING (symbol)
"""

_HISTORY_SQL = """
WITH written AS (
    INSERT INTO raw_holdings_history AS h (symbol, as_of_date, holdings, holdings_count)
    SELECT symbol, %(today)s, holdings, holdings_count FROM _holdings_new
    ON CONFLICT (symbol, as_of_date) DO UPDATE
        SET holdings = EXCLUDED.holdings, holdings_count = EXCLUDED.holdings_count
        WHERE h.holdings IS DISTINCT FROM EXCLUDED.holdings
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) FROM written
"""


def write(conn, fetched: dict[str, list[yahoo_funds.Holding]], today: dt.date, tally: Tally) -> None:
    """Store the fetched holdings in one transaction; fills in the tally's write counts."""
    # Through the write path's checks: a NUL in a holding's name would fail the whole JSONB write.
    checked, _ = check_rows(conn, "raw_holdings_history", (
        {"symbol": symbol, "as_of_date": today, "holdings": [h.as_json() for h in holdings],
         "holdings_count": len(holdings)}
        for symbol, holdings in sorted(fetched.items())), ("symbol", "as_of_date"))
    rows = [(row["symbol"], json.dumps(row["holdings"]), row["holdings_count"]) for row in checked]
    if not rows:
        return
    with database_errors("writing ETF holdings"), conn, conn.cursor() as cur:
        cur.execute(_STAGE_SQL)
        execute_values(cur, "INSERT INTO _holdings_new VALUES %s", rows, template="(%s, %s::jsonb, %s)")
        lock_rows_in_key_order(cur, "raw_stocks", "symbol", [row[0] for row in rows])
        # The snapshot of the SELECT in _STOCKS_SQL predates its own UPDATE: `o` is the old row.
        cur.execute(_STOCKS_SQL, {"today": today})
        tally.changed, tally.confirmed = cur.fetchone()
        tally.unchanged = len(rows) - tally.changed - tally.confirmed
        cur.execute(_HISTORY_SQL, {"today": today})
        tally.history_added = cur.fetchone()[0]


def _warn_list(what: str, items: list[str]) -> None:
    for item in items[:MAX_WARNING_LINES]:
        log.warning("⚠️ %s: %s", what, item)
    if len(items) > MAX_WARNING_LINES:
        log.warning("⚠️ ... and %d more", len(items) - MAX_WARNING_LINES)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = get_settings()
    yahoo_fetch.prepare()
    http_before = counters.stats()
    today = exchange_today()
    conn = connect(settings)
    try:
        etfs = load_etfs(conn)
        tally = Tally(etfs=len(etfs))
        fetched: dict[str, list[yahoo_funds.Holding]] = {}
        for outcome in yahoo_fetch.yahoo_fanout(etfs, fetch_holdings, workers=settings.workers("yahoo")):
            if outcome.ok:
                fetched[outcome.item] = outcome.value
            elif outcome.waited:
                continue  # only rate limited: fanout said so, the next run tries again
            elif isinstance(outcome.exception, NoHoldings):
                tally.no_holdings.append(outcome.item)
            elif yahoo_fetch.is_missing_symbol(outcome.exception):
                tally.unknown.append(outcome.item)
            else:
                tally.failed.append((outcome.item, outcome.error or "unknown error"))
        write(conn, fetched, today, tally)
    finally:
        conn.close()

    if tally.no_holdings:
        log.info("no holdings listed for: %s", ", ".join(tally.no_holdings[:50]))
    _warn_list("unknown to Yahoo", tally.unknown)
    _warn_list("failed", [f"{symbol}: {reason}" for symbol, reason in tally.failed])
    line = tally.line(time.monotonic() - started, yahoo_fetch.describe_request_counts(http_before))
    if tally.failed and len(tally.failed) == tally.etfs:
        log.error("❌ %s", line)
        return 1
    log.info("%s %s", "⚠️" if tally.failed else "✅", line)
    return 0
