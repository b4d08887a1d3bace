"""Snowball Analytics dividend calendar: a paged JSON API (undocumented).

    GET https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged
        ?type={category}&dateType=payment&pageSize=50&page=N&sortBy=paymentDate&sortDirection=asc

Pages count from 1; a page past the end has "data": []. Items may say `name`
instead of `companyName` and `divCurrency` instead of `currency`. `status` is
"declared" or "estimated": the parser returns both, the job keeps "declared".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from divpipe.errors import SourceFormatError
from divpipe.sources import distributions, normalize, registry
from divpipe.sources.payload import load_json, require
from divpipe.sources.records import Dividend, ParseResult

SOURCE = "snowball"
TABLE = registry.spec(SOURCE).table or ""  # the registry holds the table name
URL = "https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged"
PAGE_SIZE = 50
DEFAULT_CATEGORY = "us-popular-div"
KNOWN_CATEGORIES = ("us-popular-div", "us-popular-div-funds", "sp500", "nyse", "nasdaq")
CATEGORY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

ITEM_KEYS = ("ticker", "exDividendDate", "declareDate", "paymentDate", "perShare", "frequency", "status")
# Each pair: the usual key, then the alternative some items carry instead.
ITEM_EITHER_KEYS = (("companyName", "name"), ("currency", "divCurrency"))


@dataclass(frozen=True, kw_only=True)
class SnowballDividend(Dividend):
    company_name: str | None = None
    currency: str | None = None
    frequency: str | None = None
    status: str | None = None
    source_type: str | None = None
    category: str | None = None


@dataclass
class Page:
    """One page's records, and the page count its totalCount implies."""

    result: ParseResult[SnowballDividend]
    total_count: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total_count / self.page_size))


def page_request(category: str, page: int) -> str:
    query = urlencode({"type": category, "dateType": "payment", "pageSize": PAGE_SIZE, "page": page,
                       "sortBy": "paymentDate", "sortDirection": "asc"})
    return f"{URL}?{query}"


def parse_page(body: bytes, url: str, category: str) -> Page:
    doc = load_json(body, SOURCE, url)
    items = require(doc, "data", SOURCE, url, "the document")
    total = require(doc, "totalCount", SOURCE, url, "the document")
    size = require(doc, "pageSize", SOURCE, url, "the document")
    if not isinstance(items, list):
        raise SourceFormatError(SOURCE, url, "'data' is not a list")
    for name, value in (("totalCount", total), ("pageSize", size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SourceFormatError(SOURCE, url, f"{name!r} is not a non-negative integer")
    if size == 0:
        raise SourceFormatError(SOURCE, url, "'pageSize' is 0")
    result: ParseResult[SnowballDividend] = ParseResult()
    for i, item in enumerate(items):
        for key in ITEM_KEYS:
            require(item, key, SOURCE, url, f"item {i}")
        for usual, other in ITEM_EITHER_KEYS:
            if usual not in item and other not in item:
                raise SourceFormatError(SOURCE, url, f"item {i} has neither {usual!r} nor {other!r}")
        result.add(item, _record, url, category)
    return Page(result, total, size)


def _record(item: dict, url: str, category: str) -> SnowballDividend:
    ex_date = normalize.required_date(item["exDividendDate"], "exDividendDate")
    status = normalize.text(item["status"])
    return SnowballDividend(
        symbol=normalize.symbol(item["ticker"]),
        ex_date=ex_date,
        amount=normalize.positive_money(item["perShare"]),
        payment_date=normalize.date(item["paymentDate"]),
        declaration_date=normalize.date(item["declareDate"]),
        company_name=normalize.text(item.get("companyName", item.get("name"))),
        currency=_upper(normalize.text(item.get("currency", item.get("divCurrency")))),
        frequency=normalize.text(item["frequency"]),
        status=status.lower() if status else None,
        # Optional, and assumed (no recorded response shows it): the kind of a payment that is not
        # the regular one. Without it the type is unknown.
        distribution_type=distributions.distribution_type(item.get("type")),
        source_type=normalize.text(item.get("type")),
        category=category,
        source_url=url,
    )


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None
