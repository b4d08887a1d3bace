"""One "today" for every job: the date in New York."""

from __future__ import annotations

import datetime as dt

from divpipe import market_time
from divpipe.jobs import future_dividends, scrape, scrape_cboe, update


def test_today_is_new_yorks_date_not_utcs():
    late_evening_in_new_york = dt.datetime(2026, 3, 7, 2, 30, tzinfo=dt.UTC)
    assert market_time.exchange_today(late_evening_in_new_york) == dt.date(2026, 3, 6)
    # After the switch to daylight saving time New York is UTC-4.
    assert market_time.exchange_today(dt.datetime(2026, 3, 9, 3, 59, tzinfo=dt.UTC)) == dt.date(2026, 3, 8)
    assert market_time.exchange_today(dt.datetime(2026, 3, 9, 4, 0, tzinfo=dt.UTC)) == dt.date(2026, 3, 9)


def test_every_job_asks_the_same_clock():
    for job in (update, future_dividends, scrape, scrape_cboe):
        assert job.exchange_today is market_time.exchange_today, job.__name__
