"""YieldMax ETFs: the fund list, then each fund page's distributions table.

    GET https://yieldmaxetfs.com/our-etfs/            links to every fund page
    GET https://yieldmaxetfs.com/our-etfs/{ticker}/   (lower-case ticker)

The distributions table is found by its headers, matched case-insensitively
with extra columns ignored: DISTRIBUTION PER SHARE, DECLARED DATE, EX DATE,
RECORD DATE, PAYABLE DATE, ROC. ROC is a percentage ("95.12%") or "-".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from divpipe.errors import SourceFormatError
from divpipe.sources import normalize, registry
from divpipe.sources.payload import html_links, table_with_columns
from divpipe.sources.records import Dividend, ParseResult, Rejected

SOURCE = "yieldmax"
TABLE = registry.spec(SOURCE).table or ""  # the registry holds the table name
FUND_LIST_URL = "https://yieldmaxetfs.com/our-etfs/"

COLUMNS = ("DISTRIBUTION PER SHARE", "DECLARED DATE", "EX DATE", "RECORD DATE", "PAYABLE DATE", "ROC")

# A fund page's path: /our-etfs/<ticker>/ (the list page itself has no segment).
_FUND_PATH = re.compile(r"^/our-etfs/([^/]+)/?$")


@dataclass(frozen=True, kw_only=True)
class YieldMaxDividend(Dividend):
    roc_pct: Decimal | None = None


def fund_list_request() -> str:
    return FUND_LIST_URL


def fund_request(ticker: str) -> str:
    return f"{FUND_LIST_URL}{ticker.lower()}/"


def parse_fund_list(body: bytes, url: str) -> ParseResult[str]:
    """The fund tickers linked from the list page, in page order, each once."""
    result: ParseResult[str] = ParseResult()
    for href in html_links(body, SOURCE, url):
        try:
            match = _FUND_PATH.match(urlsplit(href).path)
        except ValueError:  # an href no URL parser reads ("http://[")
            continue
        if not match:
            continue
        try:
            ticker = normalize.symbol(match.group(1))
        except normalize.InvalidValue as err:
            result.rejected.append(Rejected.of(href, str(err)))
            continue
        if ticker not in result.records:
            result.records.append(ticker)
    if not result.records:
        raise SourceFormatError(SOURCE, url, "no links to fund pages (/our-etfs/<ticker>/) on the fund list")
    return result


def parse_fund_page(body: bytes, url: str, ticker: str) -> ParseResult[YieldMaxDividend]:
    rows = table_with_columns(body, COLUMNS, SOURCE, url,
                              no_table="the fund page has no <table> of distributions")
    result: ParseResult[YieldMaxDividend] = ParseResult()
    for row in rows:
        result.add(row, _record, url, ticker)
    return result


def _record(row: dict[str, str], url: str, ticker: str) -> YieldMaxDividend:
    ex_date = normalize.required_date(row["EX DATE"], "ex date")
    return YieldMaxDividend(
        symbol=normalize.symbol(ticker),
        ex_date=ex_date,
        amount=normalize.positive_money(row["DISTRIBUTION PER SHARE"]),
        payment_date=normalize.date(row["PAYABLE DATE"]),
        record_date=normalize.date(row["RECORD DATE"]),
        declaration_date=normalize.date(row["DECLARED DATE"]),
        roc_pct=normalize.percent(row["ROC"]),
        source_url=url,
    )
