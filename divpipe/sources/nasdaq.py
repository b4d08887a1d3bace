"""NASDAQ dividend calendar: one JSON document per ex-dividend date.

    GET https://api.nasdaq.com/api/calendar/dividends?date=YYYY-MM-DD

Quirks (docs/SOURCE_SHAPES.md): M/D/YYYY dates not always zero-padded, any
field may be "N/A", `dividend_Rate` is a number or a string like "$0.25",
`rows` is null on days without dividends, `data` is null on errors (the reason
is in `status.bCodeMessage`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from divpipe.errors import SourceFormatError
from divpipe.sources import normalize
from divpipe.sources.payload import load_json, require
from divpipe.sources.records import Dividend, ParseResult

SOURCE = "nasdaq"
TABLE = "raw_dividends_nasdaq"
URL = "https://api.nasdaq.com/api/calendar/dividends"

# Every row carries all of these keys (values may be "N/A"); a missing key
# means the API changed.
ROW_KEYS = ("symbol", "companyName", "dividend_Ex_Date", "payment_Date", "record_Date",
            "dividend_Rate", "indicated_Annual_Dividend", "announcement_Date")


@dataclass(frozen=True, kw_only=True)
class NasdaqDividend(Dividend):
    company_name: str | None = None
    indicated_annual_dividend: Decimal | None = None


def request_for(ex_date: dt.date) -> str:
    return f"{URL}?{urlencode({'date': ex_date.isoformat()})}"


def parse(body: bytes, url: str) -> ParseResult[NasdaqDividend]:
    doc = load_json(body, SOURCE, url)
    data = require(doc, "data", SOURCE, url, "the document")
    if data is None:
        status = doc.get("status")
        reason = status.get("bCodeMessage") if isinstance(status, dict) else None
        raise SourceFormatError(SOURCE, url, f"'data' is null (status.bCodeMessage: {reason!r})")
    calendar = require(data, "calendar", SOURCE, url, "'data'")
    rows = require(calendar, "rows", SOURCE, url, "'data.calendar'")
    result: ParseResult[NasdaqDividend] = ParseResult()
    if rows is None:  # a day without dividends
        return result
    if not isinstance(rows, list):
        raise SourceFormatError(SOURCE, url, "'data.calendar.rows' is not a list")
    for i, row in enumerate(rows):
        for key in ROW_KEYS:
            require(row, key, SOURCE, url, f"row {i}")
        result.add(row, _record, url)
    return result


def _record(row: dict, url: str) -> NasdaqDividend:
    ex_date = normalize.required_date(row["dividend_Ex_Date"], "ex-dividend date")
    return NasdaqDividend(
        symbol=normalize.symbol(row["symbol"]),
        ex_date=ex_date,
        amount=normalize.positive_money(row["dividend_Rate"]),
        payment_date=normalize.date(row["payment_Date"]),
        record_date=normalize.date(row["record_Date"]),
        declaration_date=normalize.date(row["announcement_Date"]),
        company_name=normalize.text(row["companyName"]),
        indicated_annual_dividend=normalize.money(row["indicated_Annual_Dividend"]),
        source_url=url,
    )
