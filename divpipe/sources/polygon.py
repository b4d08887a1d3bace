"""Polygon.io / Massive dividends: the request URLs and a PURE parser of one page.

Two endpoints give the same distributions (docs/SOURCE_SHAPES.md):
- `GET /stocks/v1/dividends` on api.massive.com, up to 5000 a page, typed by
  `distribution_type` (recurring, special, supplemental, irregular, unknown)
  and with `currency`;
- the legacy `GET /v3/reference/dividends`, up to 1000 a page, typed by
  `dividend_type` (CD, SC, LT, ST), for keys and plans that have only it.
Both page with `next_url`, an absolute URL that carries the cursor and the
filters but never the key: the key goes in the Authorization header only, so
no URL here (logged, stored as source_url) ever holds it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from divpipe.errors import SourceFormatError
from divpipe.sources import distributions, normalize, registry
from divpipe.sources.payload import load_json, require
from divpipe.sources.records import Dividend, ParseResult

SOURCE = "polygon"
TABLE = registry.spec(SOURCE).table or ""  # the registry holds the table name
BASE = "https://api.massive.com"
ENDPOINTS = {
    # setting POLYGON_ENDPOINT -> (path, largest page the endpoint allows)
    "stocks": ("/stocks/v1/dividends", 5000),
    "legacy": ("/v3/reference/dividends", 1000),
}
# Query parameters that would carry a key: dropped from any URL we follow or show.
_KEY_PARAMS = {"apikey", "api_key"}


@dataclass(frozen=True, kw_only=True)
class PolygonDividend(Dividend):
    polygon_id: str
    source_type: str | None = None
    frequency: int | None = None
    currency: str | None = None


@dataclass
class Page:
    result: ParseResult[PolygonDividend] = field(default_factory=ParseResult)
    next_url: str | None = None


def first_url(endpoint: str, start: dt.date, end: dt.date, tickers: list[str] | None = None) -> str:
    """The first page of distributions with an ex-date in [start, end], oldest first.

    `tickers` narrows it: the newer endpoint takes a list (`ticker.any_of`), the
    legacy one a single `ticker` (the job asks one symbol at a time there).
    """
    path, limit = ENDPOINTS[endpoint]
    query = {"ex_dividend_date.gte": start.isoformat(), "ex_dividend_date.lte": end.isoformat()}
    if endpoint == "stocks":
        if tickers:
            query["ticker.any_of"] = ",".join(tickers)
        query.update({"limit": str(limit), "sort": "ex_dividend_date.asc"})
    else:
        if tickers:
            query["ticker"] = tickers[0]
        query.update({"limit": str(limit), "sort": "ex_dividend_date", "order": "asc"})
    return f"{BASE}{path}?{urlencode(query)}"


def without_key(url: str) -> str:
    """`url` without any apiKey parameter. Polygon's next_url carries none; if one ever
    does, it must not reach a log, a stored source_url or an error line."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _KEY_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def parse(body: bytes, url: str) -> Page:
    """One page of either endpoint -> its distributions (rows that fail validation rejected) and next_url."""
    doc = load_json(body, SOURCE, url)
    if not isinstance(doc, dict):
        raise SourceFormatError(SOURCE, url, "the document is not a JSON object")
    status = doc.get("status")
    if status not in ("OK", "DELAYED"):
        # An error document answered with 200 ("ERROR", "NOT_AUTHORIZED"): never an empty page.
        message = doc.get("message") or doc.get("error") or "no message"
        raise SourceFormatError(SOURCE, url, f"status {status!r}: {message}")
    results = doc.get("results", [])
    if not isinstance(results, list):
        raise SourceFormatError(SOURCE, url, "'results' is not a list")
    next_url = doc.get("next_url")
    if next_url is not None and (not isinstance(next_url, str) or not next_url.startswith("https://")):
        raise SourceFormatError(SOURCE, url, f"'next_url' is not an https URL: {next_url!r}"[:200])
    page = Page(next_url=without_key(next_url) if next_url else None)
    for i, row in enumerate(results):
        if not isinstance(row, dict):
            raise SourceFormatError(SOURCE, url, f"result {i} is not an object")
        require(row, "ticker", SOURCE, url, f"result {i}")
        require(row, "ex_dividend_date", SOURCE, url, f"result {i}")
        page.result.add(row, _record, url)
    return page


def _record(row: dict[str, Any], url: str) -> PolygonDividend:
    symbol = normalize.symbol(row["ticker"])
    ex_date = normalize.required_date(row["ex_dividend_date"], "ex_dividend_date")
    # The newer endpoint's distribution_type, else the legacy dividend_type.
    word = row.get("distribution_type") or row.get("dividend_type")
    word = normalize.text(word)
    ident = normalize.text(row.get("id"))
    if ident is None:
        # The client's recorded legacy responses have no id; the live ones do. Without one,
        # the distribution's own facts name it, stable across nights.
        ident = f"{symbol}|{ex_date}|{word or ''}|{normalize.text(row.get('pay_date')) or ''}"
    return PolygonDividend(
        symbol=symbol,
        ex_date=ex_date,
        distribution_type=distributions.distribution_type(word),
        amount=normalize.positive_money(row.get("cash_amount")),
        payment_date=normalize.date(row.get("pay_date")),
        record_date=normalize.date(row.get("record_date")),
        declaration_date=normalize.date(row.get("declaration_date")),
        source_url=url,
        polygon_id=ident,
        source_type=word,
        frequency=_frequency(row.get("frequency")),
        currency=(normalize.text(row.get("currency")) or "").upper() or None,
    )


def _frequency(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value <= 366:
        return value
    raise normalize.InvalidValue(f"frequency is not a count a year: {value!r}")
