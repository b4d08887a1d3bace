"""NASDAQ dividend calendar: one JSON document per ex-dividend date.

    GET https://api.nasdaq.com/api/calendar/dividends?date=YYYY-MM-DD

Quirks (docs/SOURCE_SHAPES.md): M/D/YYYY dates not always zero-padded, any
field may be "N/A", `dividend_Rate` is a number or a string like "$0.25",
`rows` is null on days without dividends. `data` is null when the API has no
calendar for the date (weekends, holidays, some ordinary days): that is an
empty day, told apart by its bCodeMessage "Data is currently not available for
the selected date."; any other null `data` ("Invalid date format ...") is an
error whose reason is in `status.bCodeMessage`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from divpipe.errors import SourceFormatError
from divpipe.sources import normalize, registry
from divpipe.sources.payload import load_json, require
from divpipe.sources.records import Dividend, ParseResult

SOURCE = "nasdaq"
TABLE = registry.spec(SOURCE).table or ""  # the registry holds the table name
URL = "https://api.nasdaq.com/api/calendar/dividends"

# Every row carries all of these keys (values may be "N/A"); a missing key
# means the API changed.
ROW_KEYS = ("symbol", "companyName", "dividend_Ex_Date", "payment_Date", "record_Date",
            "dividend_Rate", "indicated_Annual_Dividend", "announcement_Date")

# The words of the bCodeMessage that mean "no calendar for this date". The same
# code (1001) also says "Invalid date format", so the text is what tells them apart.
NOT_AVAILABLE = "not available for the selected date"


@dataclass(frozen=True, kw_only=True)
class NasdaqDividend(Dividend):
    company_name: str | None = None
    indicated_annual_dividend: Decimal | None = None


@dataclass
class Day(ParseResult[NasdaqDividend]):
    """One date's rows; `not_available` when the API has no calendar for the date."""

    records: list[NasdaqDividend] = field(default_factory=list)
    not_available: bool = False


def request_for(ex_date: dt.date) -> str:
    return f"{URL}?{urlencode({'date': ex_date.isoformat()})}"


def parse(body: bytes, url: str) -> Day:
    doc = load_json(body, SOURCE, url)
    data = require(doc, "data", SOURCE, url, "the document")
    if data is None:
        status = doc.get("status")
        reason = status.get("bCodeMessage") if isinstance(status, dict) else None
        if _says_not_available(reason):
            return Day(not_available=True)
        raise SourceFormatError(SOURCE, url, f"'data' is null (status.bCodeMessage: {reason!r})")
    calendar = require(data, "calendar", SOURCE, url, "'data'")
    rows = require(calendar, "rows", SOURCE, url, "'data.calendar'")
    result = Day()
    if rows is None:  # a day without dividends
        return result
    if not isinstance(rows, list):
        raise SourceFormatError(SOURCE, url, "'data.calendar.rows' is not a list")
    for i, row in enumerate(rows):
        for key in ROW_KEYS:
            require(row, key, SOURCE, url, f"row {i}")
        result.add(row, _record, url)
    return result


def _says_not_available(messages) -> bool:
    if not isinstance(messages, list):
        return False
    return any(isinstance(m, dict) and isinstance(m.get("errorMessage"), str)
               and NOT_AVAILABLE in " ".join(m["errorMessage"].lower().split())
               for m in messages)


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
