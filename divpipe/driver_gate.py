"""The drivers' trading-day gate: which tasks a run starts on a given day.

The day is the date in New York, where the market is: a run from cron at
01:00 UTC on Saturday is still Friday's session there, and must run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from divpipe.errors import ConfigError
from divpipe.market_time import exchange_today

SUNDAY = 6  # date.weekday()


@dataclass(frozen=True)
class Plan:
    """`which`: "full" (every phase), "discovery-only" or "skip".

    `why_discovery`: "sunday", "asked", "no-symbols" (nothing tracked yet) or "-".
    """

    which: str
    discovery: bool
    day: date
    why_discovery: str = "-"

    def as_line(self) -> str:
        """One line for the shell: WHICH DISCOVERY(0|1) YYYY-MM-DD WHY."""
        return f"{self.which} {int(self.discovery)} {self.day.isoformat()} {self.why_discovery}"


def _xnys():
    import exchange_calendars  # heavy import: only when a gate is asked for

    return exchange_calendars.get_calendar("XNYS")


def is_trading_day(day: date) -> bool:
    """True when the NYSE holds a session on `day` (XNYS calendar)."""
    from exchange_calendars.errors import DateOutOfBounds

    calendar = _xnys()
    try:
        return bool(calendar.is_session(day.isoformat()))
    except DateOutOfBounds:
        raise ConfigError(
            f"{day} is outside the XNYS calendar ({calendar.first_session.date()} to "
            f"{calendar.last_session.date()}): pass another --date, or upgrade exchange-calendars"
        ) from None


def last_completed_session(now: datetime) -> date:
    """The latest XNYS session that had closed at `now`."""
    import pandas as pd

    calendar = _xnys()
    today = exchange_today(now)
    sessions = calendar.sessions_in_range(
        pd.Timestamp(today - timedelta(days=14)), pd.Timestamp(today)
    )
    for session in reversed(sessions):
        if calendar.session_close(session) <= pd.Timestamp(now):
            return session.date()
    raise ValueError(f"no NYSE session closed in the two weeks before {today}")


def decide(day: date, trading: bool, *, force: bool, discovery: bool, nothing_tracked: bool = False) -> Plan:
    """Pure decision: full run, discovery only, or skip.

    Discovery runs on Sundays, when asked, and whenever no symbol is tracked
    yet (a first night would otherwise update nothing), even though the market
    is closed; the rest runs on trading days, or on any day when forced.
    """
    why = ("asked" if discovery else "sunday" if day.weekday() == SUNDAY
           else "no-symbols" if nothing_tracked else "-")
    with_discovery = why != "-"
    if trading or force:
        return Plan("full", with_discovery, day, why)
    if with_discovery:
        return Plan("discovery-only", True, day, why)
    return Plan("skip", False, day)


def nothing_tracked() -> bool:
    """True when the database tracks no symbol (a first night). A database that
    cannot be read counts as tracking some: the tasks then report its error."""
    from divpipe.db.connect import connect
    from divpipe.errors import DivpipeError

    try:
        conn = connect()
    except DivpipeError:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT NOT EXISTS (SELECT 1 FROM raw_stocks s WHERE NOT EXISTS ("
                        "SELECT 1 FROM raw_excluded_symbols e WHERE e.symbol = s.symbol AND e.excluded))")
            return bool(cur.fetchone()[0])
    except Exception:  # noqa: BLE001 - any failure to read means "do not guess a first night"
        return False
    finally:
        conn.close()


def plan_for(day: date | None, *, force: bool, discovery: bool) -> Plan:
    day = day or exchange_today()
    # A forced run does not need the calendar at all.
    trading = True if force else is_trading_day(day)
    plan = decide(day, trading, force=force, discovery=discovery)
    if plan.discovery:  # no need to look at the database
        return plan
    return decide(day, trading, force=force, discovery=discovery, nothing_tracked=nothing_tracked())
