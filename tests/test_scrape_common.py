import argparse
import datetime as dt
from decimal import Decimal

import pytest

from divpipe import market_time
from divpipe.errors import ConfigError, FetchError
from divpipe.jobs import scrape
from divpipe.jobs.scrape_cboe import year_list
from divpipe.sources.nasdaq import NasdaqDividend


def rec(symbol="ABC", amount="0.25", url="u1"):
    return NasdaqDividend(symbol=symbol, ex_date=dt.date(2026, 11, 2), amount=Decimal(amount), source_url=url)


def test_repeats_from_two_pages_collapse_and_conflicts_are_rejected():
    # Page u1 lists two distributions of ABC; u2 repeats the first; u3 says the
    # first is 0.30: two pages disagree about one distribution.
    harvest = scrape.Harvest(records=[rec(), rec(url="u2"), rec(amount="0.30", url="u3"), rec("XYZ"),
                                      rec(amount="0.40")])
    kept = scrape.unique_by_key(harvest, "nasdaq")
    assert sorted((r.symbol, r.seq, r.amount, r.source_url) for r in kept) == [
        ("ABC", 1, Decimal("0.25"), "u1"), ("ABC", 2, Decimal("0.40"), "u1"), ("XYZ", 1, Decimal("0.25"), "u1")]
    [conflict] = harvest.rejected
    assert conflict.reason == "conflicts with another nasdaq row for ABC 2026-11-02"


@pytest.fixture
def new_years_eve_in_new_york(monkeypatch):
    # 03:00 UTC on January 1st is still December 31st in New York, whatever the server's zone.
    monkeypatch.setattr(market_time, "_utc_now", lambda: dt.datetime(2027, 1, 1, 3, 0, tzinfo=dt.UTC))
    return dt.date(2026, 12, 31)


def test_window_defaults_to_new_yorks_date(new_years_eve_in_new_york):
    today = new_years_eve_in_new_york
    args = argparse.Namespace(start=None, end=None)
    assert scrape.window(args, 7, 30) == (today - dt.timedelta(days=7), today + dt.timedelta(days=30))


def test_cboe_years_end_a_year_after_new_yorks(new_years_eve_in_new_york):
    assert year_list("2027") == [2027]
    with pytest.raises(argparse.ArgumentTypeError, match="between 2000 and 2027"):
        year_list("2028")


def test_a_fetch_error_stops_the_scrape_without_another_round_of_retries(monkeypatch):
    calls = []

    def fetch(day):
        calls.append(day)
        raise FetchError("api.nasdaq.com", "/api/calendar/dividends", 429)

    with pytest.raises(FetchError, match="last status 429"):
        scrape.Fetcher("nasdaq").map(["2026-11-02"], fetch)
    assert calls == ["2026-11-02"]


def test_window_defaults_and_limits():
    today = market_time.exchange_today()
    args = argparse.Namespace(start=None, end=None)
    assert scrape.window(args, 7, 30) == (today - dt.timedelta(days=7), today + dt.timedelta(days=30))
    args = argparse.Namespace(start=dt.date(2026, 1, 1), end=None)
    assert scrape.window(args, 7, 30)[0] == dt.date(2026, 1, 1)
    with pytest.raises(ConfigError, match="after"):
        scrape.window(argparse.Namespace(start=dt.date(2026, 2, 1), end=dt.date(2026, 1, 31)), 7, 30)
    with pytest.raises(ConfigError, match="longer than"):
        scrape.window(argparse.Namespace(start=dt.date(2020, 1, 1), end=dt.date(2026, 1, 1)), 7, 30)


def test_symbol_and_year_lists():
    assert scrape.symbol_list("ulty, MSTY®,ulty") == ["ULTY", "MSTY"]
    with pytest.raises(argparse.ArgumentTypeError):
        scrape.symbol_list("ULTY,")
    this_year = market_time.exchange_today().year
    assert year_list(f"{this_year},{this_year - 1},{this_year}") == [this_year - 1, this_year]
    for bad in ("1999", str(this_year + 2), "26", "2026.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            year_list(bad)


def test_usage_errors_become_config_errors():
    parser = scrape.argument_parser("prog", "desc")
    scrape.add_window_arguments(parser, 7, 30)
    with pytest.raises(ConfigError, match="prog: argument --start: not a date"):
        parser.parse_args(["--start", "tomorrow"])
