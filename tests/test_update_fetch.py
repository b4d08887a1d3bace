"""divpipe.jobs.update.fetch: what one symbol's work decides, with the network calls replaced."""

from __future__ import annotations

import datetime as dt

import pytest

from divpipe.fanout import Skip
from divpipe.jobs import update, yahoo_fetch
from divpipe.sources.yahoo import Chart, Company


@pytest.fixture
def calls(monkeypatch):
    made: list[str] = []

    def chart(symbol, start):
        made.append(f"chart {symbol} {start}")
        return Chart(symbol)  # empty

    def company(symbol):
        made.append(f"company {symbol}")
        if symbol == "BAD":
            raise ValueError("quoteSummary broke")
        return Company(symbol, company="X Corp")

    monkeypatch.setattr(yahoo_fetch, "fetch_chart", chart)
    monkeypatch.setattr(yahoo_fetch, "fetch_company", company)
    return made


def test_empty_chart_over_a_long_window_means_no_data(calls):
    start = update.exchange_today() - dt.timedelta(days=30)
    with pytest.raises(yahoo_fetch.SymbolNotFound, match=f"since {start}"):
        update.fetch(update.Plan("GONE", start, company_due=True))
    assert calls == [f"chart GONE {start}"]  # no company request for a symbol without data


def test_empty_chart_over_a_few_days_is_skipped_not_blamed(calls):
    start = update.exchange_today() - dt.timedelta(days=2)
    with pytest.raises(Skip, match="no trading day"):
        update.fetch(update.Plan("HOLIDAY", start, company_due=False))


def test_company_only_when_due_and_skip_when_nothing_to_do(calls):
    fetched = update.fetch(update.Plan("ACME", None, company_due=True))
    assert fetched.company == Company("ACME", company="X Corp") and fetched.chart is None
    with pytest.raises(Skip, match="company data is fresh"):
        update.fetch(update.Plan("ACME", None, company_due=False))
    assert calls == ["company ACME"]


def test_company_failure_alone_fails_a_companies_only_symbol(calls):
    with pytest.raises(ValueError, match="quoteSummary broke"):
        update.fetch(update.Plan("BAD", None, company_due=True))


def test_chart_data_is_kept_when_only_the_company_part_fails(calls, monkeypatch):
    from decimal import Decimal

    from divpipe.sources.yahoo import YahooDividend

    start = update.exchange_today() - dt.timedelta(days=30)
    monkeypatch.setattr(yahoo_fetch, "fetch_chart", lambda symbol, s: Chart(
        symbol, dividends=[YahooDividend(symbol, start, Decimal("0.1"))]))
    fetched = update.fetch(update.Plan("BAD", start, company_due=True))
    assert fetched.chart is not None and len(fetched.chart.dividends) == 1
    assert fetched.company is None and fetched.company_error == "ValueError: quoteSummary broke"
