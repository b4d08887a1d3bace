import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import cboe

NOTICES_URL = "https://www.cboe.com/us/equities/notices/data/dividends/?year=2026"
NOTICE = cboe.Notice("ABC,XYZ", "2026-11-02", "ABC Funds & Co")
HEADER = ["Symbol", "Name", "Ex-Date", "Record Date", "Payment Date", "Amount", "Frequency",
          "Distribution Type"]


def detail_page(rows, header=HEADER, before=""):
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<html><body>{before}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "<table><tr><th>Other</th></tr><tr><td>ignored</td></tr></table></body></html>").encode()


def good_row(symbol="ABC", amount="$0.1234"):
    return [symbol, "ABC Income Fund", "11/13/2026", "11/13/2026", "11/20/2026", amount, "Monthly", "Income"]


def test_notices_request_and_detail_request_carry_the_alert():
    assert cboe.notices_request(2026) == NOTICES_URL
    url = cboe.detail_request(NOTICE)
    assert url.startswith("https://www.cboe.com/us/equities/notices/dividends/details/?")
    assert parse_qs(urlsplit(url).query) == {
        "symbols": ["ABC,XYZ"], "declaration_dt": ["2026-11-02"], "firm_name": ["ABC Funds & Co"]}
    assert NOTICE.detail_key == "ABC,XYZ|2026-11-02|ABC Funds & Co"


def test_notices_are_parsed_deduplicated_and_bad_alerts_rejected():
    alerts = [{"symbols": "ABC,XYZ", "declaration_dt": "2026-11-02", "firm_name": "ABC Funds & Co"},
              {"symbols": "ABC,XYZ", "declaration_dt": "2026-11-02", "firm_name": "ABC Funds & Co"},
              {"symbols": "", "declaration_dt": "2026-11-03", "firm_name": "Empty"},
              {"symbols": "Q", "declaration_dt": "2026-11-04", "firm_name": "Q Trust"}]
    body = json.dumps({"alerts": alerts, "year_list": [2025, 2026]}).encode()
    result = cboe.parse_notices(body, NOTICES_URL)
    assert result.records == [NOTICE, cboe.Notice("Q", "2026-11-04", "Q Trust")]
    assert len(result.rejected) == 1


@pytest.mark.parametrize(("body", "what"), [
    (json.dumps({"notices": []}).encode(), "'alerts'"),
    (json.dumps({"alerts": [{"symbol": "A", "declaration_dt": "x", "firm_name": "y"}]}).encode(),
     "alert 0 has no key 'symbols'"),
    (json.dumps({"alerts": "none"}).encode(), "not a list"),
    (b"<!DOCTYPE html><html>Service Unavailable</html>", "HTML page"),
    (b"", "empty body"),
    (b'{"alerts": [{"symbols": "A"', "invalid JSON"),
])
def test_changed_notices_raise(body, what):
    with pytest.raises(SourceFormatError, match=what):
        cboe.parse_notices(body, NOTICES_URL)


def test_detail_page_one_row_per_symbol_with_notice_fields():
    url = cboe.detail_request(NOTICE)
    result = cboe.parse_detail(detail_page([good_row("ABC"), good_row("XYZ", "$1.50")]), url, NOTICE)
    assert result.rejected == []
    first, second = result.records
    assert first.row() == {
        "symbol": "ABC", "ex_date": dt.date(2026, 11, 13), "amount": Decimal("0.1234"),
        "payment_date": dt.date(2026, 11, 20), "record_date": dt.date(2026, 11, 13),
        "declaration_date": dt.date(2026, 11, 2), "company_name": "ABC Income Fund",
        "frequency": "Monthly", "distribution_type": "regular", "seq": 1, "source_type": "Income",
        "firm_name": "ABC Funds & Co",
        "detail_key": NOTICE.detail_key, "source_url": url,
    }
    assert (second.symbol, second.amount) == ("XYZ", Decimal("1.50"))


def test_header_match_ignores_case_and_extra_columns_and_first_matching_table_wins():
    header = [h.upper() for h in HEADER] + ["Notes"]
    rows = [[*good_row(), "n/a"]]
    page = detail_page(rows, header=header, before="<table><tr><td>menu</td></tr></table>")
    [rec] = cboe.parse_detail(page, "u", NOTICE).records
    assert rec.amount == Decimal("0.1234")


def test_bad_detail_rows_are_rejected_not_fatal():
    rows = [good_row("ABC", "TBD"), good_row("4"), ["ABC", "only two"], good_row("OK", "N/A")]
    result = cboe.parse_detail(detail_page(rows), "u", NOTICE)
    assert [(r.symbol, r.amount) for r in result.records] == [("OK", None)]
    assert len(result.rejected) == 3


@pytest.mark.parametrize(("body", "what"), [
    (detail_page([good_row()], header=[h for h in HEADER if h != "Amount"]), "'Amount'"),
    (b"<html><body><h1>404 Not Found</h1></body></html>", "no <table>"),
    (b"", "empty body"),
])
def test_changed_detail_pages_raise(body, what):
    with pytest.raises(SourceFormatError, match=what) as info:
        cboe.parse_detail(body, "https://x/details/?symbols=ABC", NOTICE)
    assert info.value.source == "cboe" and info.value.url == "https://x/details/?symbols=ABC"
