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
    """`which`: "full" (every phase), "discovery-only" or "skip"."""

    which: str
    discovery: bool
    day: date

    def as_line(self) -> str:
        """One line for the shell: WHICH DISCOVERY(0|1) YYYY-MM-DD."""
        return f"{self.which} {int(self.discovery)} {self.day.isoformat()}"


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


def decide(day: date, trading: bool, *, force: bool, discovery: bool) -> Plan:
    """Pure decision: full run, Sunday discovery only, or skip.

    Discovery runs on Sundays (or when asked), even though the market is
    closed; the rest runs on trading days, or on any day when forced.
    """
    with_discovery = discovery or day.weekday() == SUNDAY
    if trading or force:
        return Plan("full", with_discovery, day)
    if with_discovery:
        return Plan("discovery-only", True, day)
    return Plan("skip", False, day)


def plan_for(day: date | None, *, force: bool, discovery: bool) -> Plan:
    day = day or exchange_today()
    # A forced run does not need the calendar at all.
    trading = True if force else is_trading_day(day)
    return decide(day, trading, force=force, discovery=discovery)
