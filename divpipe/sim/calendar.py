"""NYSE trading sessions for the simulated market (from exchange-calendars' XNYS)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EXCHANGE_TZ = "America/New_York"


@dataclass(frozen=True)
class Sessions:
    days: np.ndarray  # datetime64[D], ascending
    opens: np.ndarray  # int64 epoch seconds of each session's open (09:30 New York)
    closes: np.ndarray  # int64 epoch seconds of each session's close

    def index_on_or_after(self, day: np.datetime64 | dt.date) -> int:
        return int(np.searchsorted(self.days, np.datetime64(day, "D"), side="left"))

    def index_after(self, day: np.datetime64 | dt.date) -> int:
        return int(np.searchsorted(self.days, np.datetime64(day, "D"), side="right"))


@lru_cache(maxsize=8)
def sessions(start: dt.date, end: dt.date) -> Sessions:
    """XNYS sessions between `start` and `end`, both included."""
    import exchange_calendars as xc

    cal = xc.get_calendar("XNYS", start=start.isoformat(), end=end.isoformat())
    days = cal.sessions.values.astype("datetime64[D]")
    opens = cal.opens.values.astype("datetime64[s]").astype(np.int64)
    closes = cal.closes.values.astype("datetime64[s]").astype(np.int64)
    return Sessions(days=days, opens=opens, closes=closes)


def is_session(day: dt.date, start: dt.date, end: dt.date) -> bool:
    s = sessions(start, end)
    i = s.index_on_or_after(day)
    return i < len(s.days) and s.days[i] == np.datetime64(day, "D")
