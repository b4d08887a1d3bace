"""Over HTTP, the simulated calendars and Yahoo's chart tell the same story.

Every dividend a scraped calendar lists with a past ex-date is in Yahoo's
chart (through real yfinance) on the same ex-date with the same amount, and
calendars that list the same dividend agree with each other. A calendar lists
each distribution of an ex-date, Yahoo their sum: the calendars' amounts are
summed per symbol and ex-date here. Read with minimal local parsing,
independent of divpipe/sources.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yfinance as yf
from bs4 import BeautifulSoup

from divpipe import net


def _mdy(text: str) -> dt.date:
    m, d, y = (int(x) for x in text.split("/"))
    return dt.date(y, m, d)


def _amount(value) -> float:
    return float(str(value).lstrip("$"))


def _nasdaq(u, days):
    http = net.client("nasdaq")
    out = {}
    for day in days:
        data = http.get_json("https://api.nasdaq.com/api/calendar/dividends", params={"date": day.isoformat()})["data"]
        for r in (data["calendar"]["rows"] or []) if data else []:  # no data: no calendar that day
            key = (r["symbol"], _mdy(r["dividend_Ex_Date"]))
            out[key] = out.get(key, 0.0) + _amount(r["dividend_Rate"])
    return out


def _snowball(u):
    http = net.client("snowball")
    out = {}
    for category in ("us-popular-div", "us-popular-div-funds", "sp500", "nyse", "nasdaq"):
        page = 1
        while True:
            data = http.get_json("https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged",
                                 params={"type": category, "dateType": "payment", "pageSize": 50, "page": page,
                                         "sortBy": "paymentDate", "sortDirection": "asc"})["data"]
            if not data:
                break
            for item in data:
                if item["status"] == "declared":
                    key = (item["ticker"], dt.date.fromisoformat(item["exDividendDate"]), category)
                    out[key] = out.get(key, 0.0) + item["perShare"]
            page += 1
    # A symbol is in several categories: each lists its distributions once.
    return {(symbol, ex): amount for (symbol, ex, _), amount in out.items()}


def _cboe(u):
    http = net.client("cboe")
    out = {}
    for year in (u.today.year - 1, u.today.year):
        alerts = http.get_json("https://www.cboe.com/us/equities/notices/data/dividends/",
                               params={"year": year})["alerts"]
        for a in alerts:
            page = http.get("https://www.cboe.com/us/equities/notices/dividends/details/", params=a).text
            table = BeautifulSoup(page, "html.parser").find("table")
            for tr in table.find_all("tr")[1:]:
                cells = [td.get_text(strip=True) for td in tr.find_all("td")]
                key = (cells[0], _mdy(cells[2]))
                out[key] = out.get(key, 0.0) + _amount(cells[5])
    return out


@pytest.fixture
def calendars(make_sim):
    sim = make_sim(n_symbols=150, seed=21)
    u = sim.universe
    days = [u.today - dt.timedelta(days=n) for n in range(45)]
    return sim, {"nasdaq": _nasdaq(u, days), "snowball": _snowball(u), "cboe": _cboe(u)}


def test_calendars_agree_with_each_other_and_with_yahoo(calendars):
    sim, by_source = calendars
    u = sim.universe
    assert all(by_source.values())
    merged: dict[tuple[str, dt.date], set[float]] = {}
    for rows in by_source.values():
        for key, amount in rows.items():
            merged.setdefault(key, set()).add(round(amount, 4))
    assert all(len(v) == 1 for v in merged.values()), "calendars disagree"
    # At least one dividend is listed by two calendars: the agreement is tested, not vacuous.
    keys = [set(rows) for rows in by_source.values()]
    assert any(a & b for i, a in enumerate(keys) for b in keys[i + 1:])

    start = u.today - dt.timedelta(days=50)
    past = {(s, ex): a.pop() for (s, ex), a in merged.items() if start < ex <= u.last_session}
    assert past
    for symbol in sorted({s for s, _ in past}):
        frame = yf.Ticker(symbol.replace(".", "-")).history(start=start.isoformat(), auto_adjust=False)
        divs = frame.loc[frame["Dividends"] > 0, "Dividends"]
        yahoo = {(symbol, d): round(float(a), 4) for d, a in zip(divs.index.date, divs, strict=True)}
        expected = {k: v for k, v in past.items() if k[0] == symbol}
        assert expected.items() <= yahoo.items(), symbol


def test_nyse_exceptions_have_ex_date_apart_from_record_date(make_sim):
    sim = make_sim(n_symbols=150, seed=21)
    page = net.client("nyse").get("https://www.nyse.com/ex-date-dividends").text
    table = BeautifulSoup(page, "html.parser").find("table")
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]]
    assert rows
    assert all(_mdy(ex) != _mdy(record) for _, _, ex, record, _ in rows)
    assert {r[0] for r in rows} <= {c.symbol for c in sim.universe.companies if "nyse" in c.sources}
