"""`--mode update` flags: validated before anything touches the database or the network."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from divpipe.config import get_settings
from divpipe.jobs import update
from divpipe.jobs.modes import main


def options(*argv: str) -> update.Options:
    parser = argparse.ArgumentParser()
    update.add_arguments(parser)
    return update.parse_options(parser.parse_args(list(argv)), get_settings())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-date", "2024-13-01"], "--from-date: expected a date as YYYY-MM-DD, got '2024-13-01'"),
        (["--from-date", "yesterday"], "--from-date: expected a date as YYYY-MM-DD, got 'yesterday'"),
        (["--from-date", "2999-01-01"], "--from-date: 2999-01-01 is in the future"),
        (["--limit", "0"], "--limit: must be at least 1, got 0"),
        (["--limit", "ten"], "--limit: expected a whole number, got 'ten'"),
        (["--workers", "1000"], "--workers: must be between 1 and 256, got 1000"),
        (["--history-years", "0"], "--history-years: must be between 1 and 100, got 0"),
        (["--tickers", "AAPL,NOT A SYMBOL"], "--tickers: not a valid symbol: 'NOT A SYMBOL'"),
        (["--tickers", " , "], "--tickers: no symbol given"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(argv, message, capsys, monkeypatch):
    # No database is configured: the error must come before any connection attempt.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["--mode", "update", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"❌ {message}"


def test_only_flags_are_mutually_exclusive(capsys):
    assert main(["--mode", "update", "--prices-only", "--dividends-only"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("❌ update_stock_v2.py: ") and "not allowed with argument" in line


def test_defaults_come_from_settings(monkeypatch):
    monkeypatch.setenv("YAHOO_WORKERS", "3")
    monkeypatch.setenv("HISTORY_YEARS", "7")
    from divpipe.config import reset_settings

    reset_settings()
    opts = options()
    assert (opts.workers, opts.history_years) == (3, 7)
    assert (opts.limit, opts.tickers, opts.from_date) == (None, None, None)
    assert opts.prices and opts.actions and opts.companies and opts.chart


def test_tickers_are_normalised_and_deduplicated():
    opts = options("--tickers", "brk-b, AAPL,BRK.B,,msft")
    assert opts.tickers == ("BRK.B", "AAPL", "MSFT")


@pytest.mark.parametrize(
    ("flag", "prices", "actions", "companies"),
    [("--prices-only", True, False, False), ("--dividends-only", False, True, False),
     ("--companies-only", False, False, True)],
)
def test_only_flags_select_what_is_stored(flag, prices, actions, companies):
    opts = options(flag)
    assert (opts.prices, opts.actions, opts.companies) == (prices, actions, companies)
    assert opts.chart == (prices or actions)


def test_from_date_is_parsed():
    assert options("--from-date", "2026-01-02").from_date == dt.date(2026, 1, 2)


def test_years_before_handles_leap_day():
    assert update.years_before(dt.date(2024, 2, 29), 5) == dt.date(2019, 2, 28)
    assert update.years_before(dt.date(2026, 11, 23), 5) == dt.date(2021, 11, 23)
