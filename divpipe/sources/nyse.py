"""NYSE ex-date dividends: an exceptions list, not a full calendar.

    GET https://www.nyse.com/ex-date-dividends

It lists "instances where ex-dates are not set on the record date", with
columns Symbol, Security Name, Ex-Date, Record Date, Declaration Date and no
cash amount. The live page renders the table with JavaScript; a body without a
<table> is that script shell, and the error says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from divpipe.sources import normalize, registry
from divpipe.sources.payload import table_with_columns
from divpipe.sources.records import Dividend, ParseResult

SOURCE = "nyse"
TABLE = registry.spec(SOURCE).table or ""  # the registry holds the table name
URL = "https://www.nyse.com/ex-date-dividends"

COLUMNS = ("Symbol", "Security Name", "Ex-Date", "Record Date", "Declaration Date")
NO_TABLE = ("the page has no <table>: the live page renders its table with JavaScript, "
            "so the fetched HTML holds only the script shell")


@dataclass(frozen=True, kw_only=True)
class NyseDividend(Dividend):
    security_name: str | None = None


def request() -> str:
    return URL


def parse(body: bytes, url: str) -> ParseResult[NyseDividend]:
    rows = table_with_columns(body, COLUMNS, SOURCE, url, no_table=NO_TABLE)
    result: ParseResult[NyseDividend] = ParseResult()
    for row in rows:
        result.add(row, _record, url)
    return result


def _record(row: dict[str, str], url: str) -> NyseDividend:
    ex_date = normalize.required_date(row["Ex-Date"], "ex-date")
    return NyseDividend(
        symbol=normalize.symbol(row["Symbol"]),
        ex_date=ex_date,
        record_date=normalize.date(row["Record Date"]),
        declaration_date=normalize.date(row["Declaration Date"]),
        security_name=normalize.text(row["Security Name"]),
        source_url=url,
    )
