"""The exchange's clock: every job that needs "today" means today in New York.

A cron run at 01:00 UTC is still the previous US trading day, and the
server's own time zone is nobody's business: the trading-day gate, the
update, the scrapers' default windows, future dividends and holdings all ask
here, so they agree on what day it is.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

EXCHANGE_TZ_NAME = "America/New_York"
EXCHANGE_TZ = ZoneInfo(EXCHANGE_TZ_NAME)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def exchange_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in New York (at `now`, an aware datetime, if given)."""
    return (now or _utc_now()).astimezone(EXCHANGE_TZ).date()
