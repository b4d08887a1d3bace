"""The scraped sites, in the shapes docs/SOURCE_SHAPES.md pins down.

NASDAQ's dividend calendar, the NASDAQ Trader symbol directory, CBOE's notices
(JSON plus detail HTML), YieldMax's fund list and fund pages, NYSE's ex-date
page and Snowball's paged JSON. Each serves only the symbols the universe says
it covers, inside its own window (`Universe.covered`), with the quirks real
pages have (unpadded dates, "N/A", "$0.25" strings, (R) marks, alternate keys).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import defaultdict
from functools import cached_property
from urllib.parse import urlencode

import numpy as np

from divpipe.sim.polygon import PolygonApi
from divpipe.sim.universe import EXCHANGES, FREQ_PER_YEAR, SNOWBALL_CATEGORIES, Dividend, Universe

Reply = tuple[int, str, bytes]
_JSON_CT = "application/json; charset=utf-8"
_HTML_CT = "text/html; charset=UTF-8"


def _json(status: int, payload) -> Reply:
    return status, _JSON_CT, json.dumps(payload).encode()


def _html(status: int, title: str, body: str) -> Reply:
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body>{body}</body></html>")
    return status, _HTML_CT, page.encode()


def _mdy(d: dt.date) -> str:
    return d.strftime("%m/%d/%Y")


def _mdy_unpadded(d: dt.date) -> str:
    return f"{d.month}/{d.day:02d}/{d.year}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table class=\"table\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _nasdaq_no_data(message: str) -> Reply:
    return _json(200, {"data": None, "message": None, "status": {
        "rCode": 400, "bCodeMessage": [{"code": 1001, "errorMessage": message}], "developerMessage": None}})


# What CBOE's Distribution Type column says for each kind of distribution.
CBOE_TYPES = {"regular": "Cash Dividend", "supplemental": "Supplemental Cash Dividend",
              "capital_gain": "Long-Term Capital Gain"}
# Snowball names the kind only when it is not the regular one.
SNOWBALL_TYPES = {"supplemental": "Supplemental", "capital_gain": "Capital Gain"}


def _firm(u: Universe, symbol: str) -> str:
    c = u.company(symbol)
    return f"{c.issuer} ETF Trust" if c.issuer else c.name


class Pages:
    """Indexes over one universe, built on first use, and the page builders."""

    def __init__(self, universe: Universe):
        self.u = universe
        # Amounts a source has since corrected: (symbol, ex_date, kind) -> amount. The
        # universe is shared and never changed; a correction is what the pages say.
        self.corrections: dict[tuple[str, dt.date, str], float] = {}
        # Polygon/Massive's API keeps state (its per-minute limit, its cursors): divpipe/sim/polygon.py.
        self.polygon = PolygonApi(universe, self.amount)

    def amount(self, d: Dividend) -> float:
        return self.corrections.get((d.symbol, d.ex_date, d.kind), d.amount)

    # -- indexes ----------------------------------------------------------

    @cached_property
    def _nasdaq_by_ex(self) -> dict[dt.date, list[Dividend]]:
        out: dict[dt.date, list[Dividend]] = defaultdict(list)
        for d in self.u.covered("nasdaq"):
            out[d.ex_date].append(d)
        return out

    @cached_property
    def _cboe_alerts(self) -> dict[tuple[str, str, str], list[Dividend]]:
        groups: dict[tuple[str, dt.date], list[Dividend]] = defaultdict(list)
        for d in self.u.covered("cboe"):
            groups[(_firm(self.u, d.symbol), d.declaration_date)].append(d)
        out = {}
        for (firm, declared), divs in groups.items():
            symbols = ",".join(sorted({d.symbol for d in divs}))
            out[(symbols, declared.isoformat(), firm)] = sorted(divs, key=lambda d: (d.symbol, d.ex_date, d.kind))
        return out

    @cached_property
    def _snowball(self) -> dict[str, list[Dividend]]:
        out: dict[str, list[Dividend]] = {k: [] for k in SNOWBALL_CATEGORIES}
        for d in self.u.covered("snowball", include_estimates=True):
            for cat in self.u.company(d.symbol).snowball_categories:
                out[cat].append(d)
        for rows in out.values():
            rows.sort(key=lambda d: (d.pay_date, d.symbol, d.ex_date, d.kind))
        return out

    # -- NASDAQ -------------------------------------------------------------

    def nasdaq_calendar(self, q: dict[str, str]) -> Reply:
        raw = q.get("date", "")
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            return _nasdaq_no_data("Invalid date format. Please use yyyy-MM-dd")
        cal = self.u.calendar
        i = cal.index_on_or_after(day)
        if i >= len(cal.days) or cal.days[i] != np.datetime64(day, "D"):
            # Weekends, holidays and dates beyond its range: no calendar at all.
            return _nasdaq_no_data("Data is currently not available for the selected date.")
        rows = []
        for d in self._nasdaq_by_ex.get(day, []):
            c = self.u.company(d.symbol)
            k = c.index + d.ex_date.toordinal()
            per_year = FREQ_PER_YEAR[d.frequency]
            rows.append({
                "companyName": f"{c.name} Common Stock" if not c.is_etf else c.name,
                "symbol": c.symbol,
                "dividend_Ex_Date": _mdy(d.ex_date),
                "payment_Date": _mdy(d.pay_date) if k % 13 else "N/A",
                "record_Date": _mdy(d.record_date),
                # Quirk: now and then the rate is a "$0.25" string.
                "dividend_Rate": f"${self.amount(d):g}" if k % 5 == 0 else self.amount(d),
                "indicated_Annual_Dividend": round(d.amount * per_year, 4) if k % 7 else "N/A",
                "announcement_Date": _mdy_unpadded(d.declaration_date),
            })
            if k % 11 == 0 and not c.is_etf:
                # Quirk seen in a real capture: the same dividend listed again under
                # another spelling of the company's name.
                rows.append({**rows[-1], "companyName": c.name})
        calendar = {
            "asOf": day.strftime("%a, %b %d, %Y"),
            "headers": {"symbol": "Symbol", "companyName": "Name", "dividend_Ex_Date": "Ex-Dividend Date",
                        "payment_Date": "Payment Date", "record_Date": "Record Date",
                        "dividend_Rate": "Dividend", "indicated_Annual_Dividend": "Indicated Annual Dividend",
                        "announcement_Date": "Announcement Date"},
            "rows": rows or None,
        }
        return _json(200, {"data": {"calendar": calendar, "timeframe": {
            "minDate": (self.u.today - dt.timedelta(days=365 * 5)).isoformat(),
            "maxDate": (self.u.today + dt.timedelta(days=120)).isoformat()}},
            "message": None, "status": {"rCode": 200, "bCodeMessage": None, "developerMessage": None}})

    # -- NASDAQ Trader ------------------------------------------------------

    def symbol_directory(self, which: str) -> Reply:
        stamp = dt.datetime.combine(self.u.today, dt.time(18, 1)).strftime("%m%d%Y%H:%M")
        if which == "nasdaqlisted.txt":
            lines = ["Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF"
                     "|NextShares"]
            for c in self.u.listed():
                if c.exchange == "NASDAQ":
                    lines.append(f"{c.symbol}|{c.name} - Common Stock|Q|N|N|100|{'Y' if c.is_etf else 'N'}|N")
            lines.append("ZXZZT|NASDAQ TEST STOCK|G|Y|N|100|N|N")
            lines.append(f"File Creation Time: {stamp}|||||||")
        else:
            lines = ["ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue"
                     "|NASDAQ Symbol"]
            for c in self.u.listed():
                if c.exchange != "NASDAQ":
                    code = EXCHANGES[c.exchange][2]
                    etf = "Y" if c.is_etf else "N"
                    nasdaq_symbol = c.symbol.replace(".", "=")
                    lines.append(f"{c.symbol}|{c.name}|{code}|{c.symbol}|{etf}|100|N|{nasdaq_symbol}")
            lines.append("ZTEST|NYSE TEST STOCK|N|ZTEST|N|100|Y|ZTEST")
            lines.append(f"File Creation Time: {stamp}||||||")
        return 200, "text/plain", ("\r\n".join(lines) + "\r\n").encode()

    # -- CBOE ---------------------------------------------------------------

    def cboe_year(self, q: dict[str, str]) -> Reply:
        try:
            year = int(q.get("year", str(self.u.today.year)))
        except ValueError:
            return _json(400, {"error": "invalid year"})
        alerts = [{"symbols": s, "declaration_dt": d, "firm_name": f}
                  for (s, d, f) in sorted(self._cboe_alerts, key=lambda k: (k[1], k[0]), reverse=True)
                  if d.startswith(f"{year}-")]
        years = list(range(self.u.today.year - 2, self.u.today.year + 1))
        return _json(200, {"alerts": alerts, "year_list": years})

    def cboe_detail(self, q: dict[str, str]) -> Reply:
        key = (q.get("symbols", ""), q.get("declaration_dt", ""), q.get("firm_name", ""))
        divs = self._cboe_alerts.get(key)
        if divs is None:
            return _html(404, "Page Not Found | Cboe", "<h1>Page not found</h1>")
        rows = []
        for d in divs:
            c = self.u.company(d.symbol)
            rows.append([c.symbol, c.name, _mdy(d.ex_date), _mdy(d.record_date), _mdy(d.pay_date),
                         f"${self.amount(d):.4f}", d.frequency.title(), CBOE_TYPES[d.kind]])
        headers = ["Symbol", "Name", "Ex-Date", "Record Date", "Payment Date", "Amount", "Frequency",
                   "Distribution Type"]
        body = (f"<h1>Dividend Notice: {html.escape(key[2])}</h1><p>Declared {html.escape(key[1])}</p>"
                + _table(headers, rows) + "<table><tr><td>Contact: Cboe Trade Desk</td></tr></table>")
        return _html(200, "Dividend Details | Cboe", body)

    def cboe_detail_query(self, key: tuple[str, str, str]) -> str:
        """The query string of the detail page of an alert (for tests)."""
        return urlencode({"symbols": key[0], "declaration_dt": key[1], "firm_name": key[2]})

    # -- YieldMax -----------------------------------------------------------

    def _yieldmax_funds(self):
        return [c for c in self.u.listed() if c.issuer == "YieldMax"]

    def yieldmax_list(self) -> Reply:
        links = "".join(
            f'<li><a href="https://yieldmaxetfs.com/our-etfs/{c.symbol.lower()}/">{c.symbol}&reg;</a> '
            f"{html.escape(c.name)}</li>" for c in self._yieldmax_funds())
        return _html(200, "Our ETFs - YieldMax ETFs",
                     f'<nav><a href="https://yieldmaxetfs.com/">Home</a></nav><ul class="funds">{links}</ul>')

    def yieldmax_fund(self, slug: str) -> Reply:
        fund = next((c for c in self._yieldmax_funds() if c.symbol.lower() == slug.lower()), None)
        if fund is None:
            return _html(404, "Page not found - YieldMax ETFs", "<h1>Oops! That page can't be found.</h1>")
        lo, hi = self.u.window("yieldmax")
        divs = [d for d in self.u.dividends(fund.symbol) if lo <= d.ex_date <= hi]
        rows = []
        for d in sorted(divs, key=lambda d: d.ex_date, reverse=True):
            k = fund.index + d.ex_date.toordinal()
            roc = "-" if k % 3 == 0 else f"{50 + (k % 50) + 0.12:.2f}%"
            rows.append([f"${self.amount(d):.4f}", _mdy(d.declaration_date), _mdy(d.ex_date), _mdy(d.record_date),
                         _mdy(d.pay_date), roc])
        headers = ["Distribution per Share", "Declared Date", "Ex Date", "Record Date", "Payable Date", "ROC"]
        body = (f"<h1>{fund.symbol}&trade; {html.escape(fund.name)}</h1>"
                f"<table class=\"fund-facts\"><tr><th>Ticker</th><td>{fund.symbol}</td></tr></table>"
                f"<h2>Distributions</h2>{_table(headers, rows)}")
        return _html(200, f"{fund.symbol} - YieldMax ETFs", body)

    # -- NYSE ---------------------------------------------------------------

    def nyse(self) -> Reply:
        rows = []
        for d in sorted(self.u.covered("nyse"), key=lambda d: (d.ex_date, d.symbol)):
            c = self.u.company(d.symbol)
            rows.append([c.symbol, c.name, _mdy(d.ex_date), _mdy(d.record_date), _mdy(d.declaration_date)])
        headers = ["Symbol", "Security Name", "Ex-Date", "Record Date", "Declaration Date"]
        body = ("<h1>Ex-Date Dividends</h1><p>Instances where ex-dates are not set on the record date, "
                "such as when due bills are attached.</p>" + _table(headers, rows))
        return _html(200, "Ex-Date Dividends | NYSE", body)

    # -- Snowball -----------------------------------------------------------

    def snowball(self, q: dict[str, str]) -> Reply:
        category = q.get("type", "")
        if category not in self._snowball:
            return _json(400, {"error": f"unknown calendar type {category}"})
        try:
            page = int(q.get("page", "1"))
            size = int(q.get("pageSize", "50"))
        except ValueError:
            return _json(400, {"error": "page and pageSize must be integers"})
        if page < 1 or not 1 <= size <= 200:
            return _json(400, {"error": "page starts at 1; pageSize is 1..200"})
        rows = self._snowball[category]
        items = []
        for d in rows[(page - 1) * size: page * size]:
            c = self.u.company(d.symbol)
            alt = (c.index + d.ex_date.toordinal()) % 4 == 0
            item = {"ticker": c.symbol, ("name" if alt else "companyName"): c.name,
                    "exDividendDate": d.ex_date.isoformat(), "declareDate": d.declaration_date.isoformat(),
                    "paymentDate": d.pay_date.isoformat(), "perShare": self.amount(d),
                    ("divCurrency" if alt else "currency"): "USD", "frequency": d.frequency,
                    "status": "declared" if d.declared else "estimated"}
            if d.kind in SNOWBALL_TYPES:
                item["type"] = SNOWBALL_TYPES[d.kind]
            items.append(item)
        return _json(200, {"data": items, "totalCount": len(rows), "pageSize": size})
