"""Polygon/Massive's pure parser: the official client's real capture, both endpoints' shapes, bad bodies."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sim.polygon import KEY, PolygonApi
from divpipe.sim.universe import Universe
from divpipe.sources import polygon

REAL = Path(__file__).parent / "fixtures" / "real" / "polygon"
URL = "https://api.massive.com/stocks/v1/dividends?ex_dividend_date.gte=2026-11-11"


def test_the_real_legacy_capture_parses_every_row():
    body = (REAL / "v3-reference-dividends.json").read_bytes()
    page = polygon.parse(body, "https://api.polygon.io/v3/reference/dividends")
    doc = json.loads(body)
    assert page.next_url is None and not page.result.rejected
    assert len(page.result.records) == len(doc["results"]) == 10
    first = page.result.records[0]
    assert (first.symbol, first.ex_date, first.amount) == ("CSSEN", dt.date(2025, 6, 12), Decimal("0.59375"))
    assert (first.payment_date, first.record_date, first.declaration_date) == (
        dt.date(2025, 6, 30), dt.date(2025, 6, 15), dt.date(2020, 9, 9))
    assert (first.distribution_type, first.source_type, first.frequency, first.currency) == (
        "regular", "CD", 4, None)
    # No id in the recorded rows: each still gets its own, stable one.
    ids = [r.polygon_id for r in page.result.records]
    assert len(set(ids)) == 10
    assert ids == [r.polygon_id for r in polygon.parse(body, "https://x/").result.records]


def _stocks_row(**over):
    row = {"cash_amount": 0.26, "currency": "USD", "declaration_date": "2025-07-31",
           "distribution_type": "recurring", "ex_dividend_date": "2025-08-11", "frequency": 4,
           "historical_adjustment_factor": 0.997899, "id": "Ed2c9da6", "pay_date": "2025-08-14",
           "record_date": "2025-08-11", "split_adjusted_cash_amount": 0.26, "ticker": "AAPL"}
    return {**row, **over}


@pytest.mark.parametrize(("word", "kind"), [
    ("recurring", "regular"), ("special", "special"), ("supplemental", "supplemental"),
    ("irregular", "special"), ("unknown", "unknown"), (None, "unknown"),
])
def test_distribution_types_map_onto_the_vocabulary(word, kind):
    doc = {"status": "OK", "results": [_stocks_row(distribution_type=word)]}
    record = polygon.parse(json.dumps(doc).encode(), URL).result.records[0]
    assert record.distribution_type == kind
    assert record.source_type == word


@pytest.mark.parametrize(("code", "kind"), [("CD", "regular"), ("SC", "special"), ("LT", "capital_gain"),
                                            ("ST", "capital_gain")])
def test_legacy_dividend_types_map_onto_the_vocabulary(code, kind):
    row = _stocks_row(dividend_type=code)
    del row["distribution_type"]
    record = polygon.parse(json.dumps({"status": "OK", "results": [row]}).encode(), URL).result.records[0]
    assert (record.distribution_type, record.source_type) == (kind, code)


def test_a_stocks_row_keeps_id_frequency_and_currency_and_next_url_loses_any_key():
    doc = {"status": "OK", "results": [_stocks_row(currency="cad", frequency=12)],
           "next_url": "https://api.massive.com/stocks/v1/dividends?cursor=abc&apiKey=SECRET"}
    page = polygon.parse(json.dumps(doc).encode(), URL)
    record = page.result.records[0]
    assert (record.polygon_id, record.frequency, record.currency) == ("Ed2c9da6", 12, "CAD")
    assert page.next_url == "https://api.massive.com/stocks/v1/dividends?cursor=abc"


def test_a_bad_row_is_rejected_and_the_others_kept():
    doc = {"status": "OK", "results": [_stocks_row(cash_amount=-1), _stocks_row(id="b", frequency="often"),
                                       _stocks_row(id="c")]}
    result = polygon.parse(json.dumps(doc).encode(), URL).result
    assert [r.polygon_id for r in result.records] == ["c"]
    assert len(result.rejected) == 2


@pytest.mark.parametrize("body", [
    b"<html>502 Bad Gateway</html>",
    b'{"status": "ERROR", "error": "Unknown API Key"}',
    b'{"status": "OK", "results": {"ticker": "AAPL"}}',
    b'{"status": "OK", "results": [], "next_url": "ftp://elsewhere"}',
    b'{"status": "OK", "results": [{"cash_amount": 1}]}',
    b"[]",
])
def test_a_body_that_is_not_the_api_answer_is_a_format_error(body):
    with pytest.raises(SourceFormatError):
        polygon.parse(body, URL)


@pytest.mark.parametrize("path", ["/stocks/v1/dividends", "/v3/reference/dividends"])
def test_the_simulator_pages_parse_and_page_through_next_url(path):
    api = PolygonApi(Universe(30, 2, dt.date(2026, 11, 18)), per_window=10_000)
    api.page_cap = 50
    url = f"/{path}?ex_dividend_date.gte=2025-11-18&ex_dividend_date.lte=2026-11-18&limit=5000"
    q = dict(p.split("=") for p in url.split("?")[1].split("&"))
    status, _, body, _ = api.answer("api.massive.com", path, q, {"Authorization": f"Bearer {KEY}"})
    records, pages = [], 0
    while True:
        assert status == 200
        page = polygon.parse(body, path)
        pages += 1
        records += page.result.records
        assert not page.result.rejected
        if page.next_url is None:
            break
        assert page.next_url.startswith(f"https://api.massive.com{path}?cursor=") and KEY not in page.next_url
        cursor = page.next_url.split("cursor=")[1]
        status, _, body, _ = api.answer("api.massive.com", path, {"cursor": cursor},
                                        {"Authorization": f"Bearer {KEY}"})
    expected = [d for d in api.u.covered("polygon") if dt.date(2025, 11, 18) <= d.ex_date <= dt.date(2026, 11, 18)]
    assert len(records) == len(expected) and pages == -(-len(expected) // 50)
    assert len({r.polygon_id for r in records}) == len(records)
