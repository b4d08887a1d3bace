"""CBOE dividend notices: a JSON list of alerts per year, one HTML detail page per alert.

    GET https://www.cboe.com/us/equities/notices/data/dividends/?year=YYYY
    GET https://www.cboe.com/us/equities/notices/dividends/details/?symbols=..&declaration_dt=..&firm_name=..

A detail page's first table has one row per symbol of the alert (an alert's
`symbols` may list several, comma-separated). A detail page is identified by
`symbols|declaration_dt|firm_name`, stored as `detail_key`, so pages already
stored need not be fetched again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from divpipe.errors import SourceFormatError
from divpipe.sources import distributions, normalize, registry
from divpipe.sources.payload import load_json, require, table_with_columns
from divpipe.sources.records import Dividend, ParseResult, Rejected

SOURCE = "cboe"
TABLE = registry.spec(SOURCE).table or ""  # the registry holds the table name
NOTICES_URL = "https://www.cboe.com/us/equities/notices/data/dividends/"
DETAILS_URL = "https://www.cboe.com/us/equities/notices/dividends/details/"

ALERT_KEYS = ("symbols", "declaration_dt", "firm_name")
COLUMNS = ("Symbol", "Name", "Ex-Date", "Record Date", "Payment Date", "Amount",
           "Frequency", "Distribution Type")


@dataclass(frozen=True)
class Notice:
    """One alert of the notices list: what identifies its detail page."""

    symbols: str
    declaration_dt: str
    firm_name: str

    @property
    def detail_key(self) -> str:
        return f"{self.symbols}|{self.declaration_dt}|{self.firm_name}"

    @classmethod
    def from_key(cls, detail_key: str) -> Notice:
        # Symbols and dates hold no "|"; a firm's name might.
        symbols, declaration_dt, firm_name = detail_key.split("|", 2)
        return cls(symbols, declaration_dt, firm_name)


@dataclass(frozen=True, kw_only=True)
class CboeDividend(Dividend):
    company_name: str | None = None
    frequency: str | None = None
    source_type: str | None = None  # the page's own words; distribution_type is ours
    firm_name: str | None = None
    detail_key: str | None = None


def notices_request(year: int) -> str:
    return f"{NOTICES_URL}?{urlencode({'year': year})}"


def detail_request(notice: Notice) -> str:
    query = urlencode({"symbols": notice.symbols, "declaration_dt": notice.declaration_dt,
                       "firm_name": notice.firm_name})
    return f"{DETAILS_URL}?{query}"


def parse_notices(body: bytes, url: str) -> ParseResult[Notice]:
    doc = load_json(body, SOURCE, url)
    alerts = require(doc, "alerts", SOURCE, url, "the document")
    if not isinstance(alerts, list):
        raise SourceFormatError(SOURCE, url, "'alerts' is not a list")
    result: ParseResult[Notice] = ParseResult()
    seen = set()
    for i, alert in enumerate(alerts):
        values = [require(alert, key, SOURCE, url, f"alert {i}") for key in ALERT_KEYS]
        if not all(isinstance(v, str) and v.strip() for v in values):
            result.rejected.append(Rejected.of(alert, "alert with an empty or non-text field"))
            continue
        notice = Notice(*values)
        if notice not in seen:  # the same alert listed twice is one page to fetch
            seen.add(notice)
            result.records.append(notice)
    return result


def parse_detail(body: bytes, url: str, notice: Notice) -> ParseResult[CboeDividend]:
    rows = table_with_columns(body, COLUMNS, SOURCE, url,
                              no_table="the detail page has no <table> (an error page?)")
    result: ParseResult[CboeDividend] = ParseResult()
    for row in rows:
        result.add(row, _record, url, notice)
    return result


def _record(row: dict[str, str], url: str, notice: Notice) -> CboeDividend:
    ex_date = normalize.required_date(row["Ex-Date"], "ex-date")
    try:
        declared: dt.date | None = normalize.date(notice.declaration_dt)
    except normalize.InvalidValue:
        declared = None  # the page is still good; only the alert's own date is odd
    return CboeDividend(
        symbol=normalize.symbol(row["Symbol"]),
        ex_date=ex_date,
        amount=normalize.positive_money(row["Amount"]),
        payment_date=normalize.date(row["Payment Date"]),
        record_date=normalize.date(row["Record Date"]),
        declaration_date=declared,
        company_name=normalize.text(row["Name"]),
        frequency=normalize.text(row["Frequency"]),
        distribution_type=distributions.distribution_type(row["Distribution Type"]),
        source_type=normalize.text(row["Distribution Type"]),
        firm_name=notice.firm_name,
        detail_key=notice.detail_key,
        source_url=url,
    )
