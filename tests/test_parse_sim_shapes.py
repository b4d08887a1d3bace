"""The parsers read exactly what the simulator serves (both follow docs/SOURCE_SHAPES.md).

In-process and without HTTP: each simulated page is parsed and compared with
the universe's truth for that source, so a drift on either side shows here
before it shows as a failed end-to-end run.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from divpipe.sim.pages import Pages
from divpipe.sim.universe import Universe
from divpipe.sources import cboe, distributions, nasdaq, nyse, snowball, yieldmax
from tests.sim_truth import keyed


@pytest.fixture(scope="module")
def pages():
    return Pages(Universe(80, seed=3, today=dt.date(2026, 11, 20)))


def truth(divs, source):
    return keyed(source, divs)


def numbered(records, listing=lambda r: r.source_url):
    """The records numbered as the scrape job numbers them."""
    return {r.key: r for r in distributions.numbered(records, listing)}


def close(amount: Decimal | None, expected: float) -> bool:
    return amount is not None and abs(float(amount) - expected) < 1e-4


def test_nasdaq(pages):
    u = pages.u
    end = u.today + dt.timedelta(days=30)
    expected = truth((d for d in u.covered("nasdaq") if u.today <= d.ex_date <= end), "nasdaq")
    sessions = set(u.calendar.days.astype(dt.date).tolist())
    assert any(day.weekday() < 5 and day not in sessions for day in
               (u.today + dt.timedelta(days=n) for n in range(31)))  # Thanksgiving
    got = []
    for n in range(31):
        day = u.today + dt.timedelta(days=n)
        _, _, body = pages.nasdaq_calendar({"date": day.isoformat()})
        result = nasdaq.parse(body, nasdaq.request_for(day))
        assert result.rejected == []
        # Weekends and holidays: NASDAQ has no calendar for them.
        assert result.not_available == (day not in sessions)
        got += result.records
    listed = len(got)
    got = numbered(got)
    assert any(key[3] == 2 for key in got), "no two distributions on one ex-date: pick another seed"
    assert listed > len(got), "no dividend listed twice under two names: pick another seed"
    assert got.keys() == expected.keys() and expected
    for key, rec in got.items():
        d = expected[key]
        assert close(rec.amount, d.amount)
        assert (rec.record_date, rec.declaration_date) == (d.record_date, d.declaration_date)
        assert rec.payment_date in (d.pay_date, None)


def test_cboe(pages):
    u = pages.u
    _, _, body = pages.cboe_year({"year": "2026"})
    notices = cboe.parse_notices(body, cboe.notices_request(2026))
    assert notices.rejected == [] and notices.records
    got = []
    for notice in notices.records:
        _, _, page = pages.cboe_detail({"symbols": notice.symbols, "declaration_dt": notice.declaration_dt,
                                        "firm_name": notice.firm_name})
        result = cboe.parse_detail(page, cboe.detail_request(notice), notice)
        assert result.rejected == []
        got += result.records
    got = numbered(got)
    expected = truth((d for d in u.covered("cboe") if d.declaration_date.year == 2026), "cboe")
    assert got.keys() == expected.keys()
    assert all(close(r.amount, expected[k].amount) and r.payment_date == expected[k].pay_date
               for k, r in got.items())


def test_yieldmax(pages):
    u = pages.u
    _, _, body = pages.yieldmax_list()
    tickers = yieldmax.parse_fund_list(body, yieldmax.fund_list_request()).records
    assert sorted(tickers) == sorted(c.symbol for c in u.listed() if c.issuer == "YieldMax")
    got = []
    for ticker in tickers:
        _, _, page = pages.yieldmax_fund(ticker.lower())
        result = yieldmax.parse_fund_page(page, yieldmax.fund_request(ticker), ticker)
        assert result.rejected == []
        got += result.records
    got = numbered(got)
    expected = truth(u.covered("yieldmax"), "yieldmax")
    assert got.keys() == expected.keys() and expected
    assert all(close(r.amount, expected[k].amount) for k, r in got.items())
    assert any(r.roc_pct is None for r in got.values()) and any(r.roc_pct for r in got.values())


def test_nyse(pages):
    _, _, body = pages.nyse()
    result = nyse.parse(body, nyse.URL)
    assert result.rejected == []
    assert numbered(result.records).keys() == truth(pages.u.covered("nyse"), "nyse").keys()
    assert all(r.amount is None for r in result.records)


@pytest.mark.parametrize("category", ["us-popular-div", "us-popular-div-funds"])
def test_snowball(pages, category):
    u = pages.u
    first = snowball.parse_page(pages.snowball({"type": category, "page": "1"})[2], "u", category)
    records = list(first.result.records)
    for n in range(2, first.pages + 2):  # one page past the end: empty, not an error
        page = snowball.parse_page(pages.snowball({"type": category, "page": str(n)})[2], "u", category)
        assert page.result.rejected == []
        records += page.result.records
    declared = numbered([r for r in records if r.status == "declared"], lambda r: None)
    expected = truth((d for d in u.covered("snowball") if category in u.company(d.symbol).snowball_categories),
                     "snowball")
    assert declared.keys() == expected.keys() and expected
    assert all(close(r.amount, expected[k].amount) for k, r in declared.items())
