import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import snowball

URL = "https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged?page=1"


def item(**over):
    base = {"ticker": "O", "companyName": "Realty Income", "exDividendDate": "2026-11-30",
            "declareDate": "2026-11-10", "paymentDate": "2026-12-15", "perShare": 0.2695,
            "currency": "USD", "frequency": "monthly", "status": "declared"}
    base.update(over)
    return base


def body(items, total=None, size=50):
    return json.dumps({"data": items, "totalCount": len(items) if total is None else total,
                       "pageSize": size}).encode()


def test_page_request():
    url = snowball.page_request("us-popular-div", 3)
    assert url.startswith(snowball.URL + "?")
    assert parse_qs(urlsplit(url).query) == {
        "type": ["us-popular-div"], "dateType": ["payment"], "pageSize": ["50"], "page": ["3"],
        "sortBy": ["paymentDate"], "sortDirection": ["asc"]}


def test_items_and_page_count():
    page = snowball.parse_page(body([item()], total=123), URL, "us-popular-div")
    assert page.pages == 3
    [rec] = page.result.records
    assert rec.row() == {
        "symbol": "O", "ex_date": dt.date(2026, 11, 30), "amount": Decimal("0.2695"),
        "payment_date": dt.date(2026, 12, 15), "record_date": None, "declaration_date": dt.date(2026, 11, 10),
        "company_name": "Realty Income", "currency": "USD", "frequency": "monthly", "status": "declared",
        "category": "us-popular-div", "source_url": URL,
        "distribution_type": "unknown", "seq": 1, "source_type": None,
    }


def test_alternative_keys_and_estimated_status_are_parsed():
    alt = item(ticker="MAIN", status="estimated", perShare="0.25", declareDate=None)
    alt["name"] = alt.pop("companyName")
    alt["divCurrency"] = alt.pop("currency")
    [rec] = snowball.parse_page(body([alt]), URL, "sp500").result.records
    assert (rec.symbol, rec.company_name, rec.currency, rec.status, rec.amount, rec.declaration_date) == (
        "MAIN", "Realty Income", "USD", "estimated", Decimal("0.25"), None)


def test_empty_page_past_the_end():
    page = snowball.parse_page(body([], total=40), URL, "nyse")
    assert page.result.records == [] and page.pages == 1


def test_bad_items_rejected():
    items = [item(ticker=None), item(exDividendDate="someday"), item(perShare=-1), item(ticker="BRK-B")]
    page = snowball.parse_page(body(items), URL, "nyse")
    assert [r.symbol for r in page.result.records] == ["BRK.B"]
    assert len(page.result.rejected) == 3


def renamed(old, new):
    it = item()
    it[new] = it.pop(old)
    return it


@pytest.mark.parametrize(("payload", "what"), [
    (body([renamed("perShare", "amount")]), "item 0 has no key 'perShare'"),
    (body([renamed("companyName", "company")]), "neither 'companyName' nor 'name'"),
    (json.dumps({"items": [], "totalCount": 0, "pageSize": 50}).encode(), "'data'"),
    (json.dumps({"data": [], "pageSize": 50}).encode(), "'totalCount'"),
    (json.dumps({"data": [], "totalCount": "many", "pageSize": 50}).encode(), "'totalCount'"),
    (json.dumps({"data": [], "totalCount": 1, "pageSize": 0}).encode(), "'pageSize' is 0"),
    (body([item()])[:30], "invalid JSON"),
    (b"<html><title>Just a moment...</title></html>", "HTML page"),
    (b"", "empty body"),
])
def test_changed_payloads_raise(payload, what):
    with pytest.raises(SourceFormatError, match=what):
        snowball.parse_page(payload, URL, "nyse")
