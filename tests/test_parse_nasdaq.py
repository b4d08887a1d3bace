import datetime as dt
import json
from decimal import Decimal

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import nasdaq

URL = "https://api.nasdaq.com/api/calendar/dividends?date=2026-10-02"


def row(**over):
    base = {"companyName": "Alico, Inc. Common Stock", "symbol": "ALCO", "dividend_Ex_Date": "10/02/2026",
            "payment_Date": "10/16/2026", "record_Date": "10/02/2026", "dividend_Rate": 0.05,
            "indicated_Annual_Dividend": 0.2, "announcement_Date": "9/08/2026"}
    base.update(over)
    return base


def payload(rows, **over):
    doc = {"data": {"calendar": {"asOf": "Fri, Oct 2, 2026", "headers": {"symbol": "Symbol"}, "rows": rows},
                    "timeframe": {"minDate": None, "maxDate": None}},
           "message": None, "status": {"rCode": 200, "bCodeMessage": None, "developerMessage": None}}
    doc.update(over)
    return json.dumps(doc).encode()


def test_request_is_one_date():
    assert nasdaq.request_for(dt.date(2026, 10, 2)) == URL


def test_the_documented_example_row():
    result = nasdaq.parse(payload([row()]), URL)
    assert result.rejected == []
    [rec] = result.records
    assert rec.row() == {
        "symbol": "ALCO", "ex_date": dt.date(2026, 10, 2), "amount": Decimal("0.05"),
        "payment_date": dt.date(2026, 10, 16), "record_date": dt.date(2026, 10, 2),
        "declaration_date": dt.date(2026, 9, 8), "company_name": "Alico, Inc. Common Stock",
        "indicated_annual_dividend": Decimal("0.2"), "source_url": URL,
        "distribution_type": "unknown", "seq": 1,
    }


def test_quirks_unpadded_dates_na_fields_and_dollar_strings():
    rows = [
        row(symbol="ABC", dividend_Ex_Date="10/2/2026", payment_Date="N/A", record_Date="N/A",
            dividend_Rate="$0.25", indicated_Annual_Dividend="N/A", announcement_Date="N/A"),
        row(symbol="brk.b", dividend_Rate="0.5", companyName="N/A"),
    ]
    first, second = nasdaq.parse(payload(rows), URL).records
    assert (first.ex_date, first.amount, first.payment_date, first.record_date) == (
        dt.date(2026, 10, 2), Decimal("0.25"), None, None)
    assert first.indicated_annual_dividend is None and first.declaration_date is None
    assert (second.symbol, second.amount, second.company_name) == ("BRK.B", Decimal("0.5"), None)


def test_null_rows_mean_a_day_without_dividends():
    result = nasdaq.parse(payload(None), URL)
    assert result.records == [] and result.rejected == []


def test_bad_rows_are_rejected_with_reason_and_the_rest_kept():
    rows = [row(symbol="ABR^D"), row(dividend_Ex_Date="N/A"), row(dividend_Rate="soon"), row(symbol="GOOD")]
    result = nasdaq.parse(payload(rows), URL)
    assert [r.symbol for r in result.records] == ["GOOD"]
    reasons = [r.reason for r in result.rejected]
    assert len(reasons) == 3
    assert "symbol" in reasons[0] and "ex-dividend" in reasons[1] and "amount" in reasons[2]
    assert "ABR^D" in result.rejected[0].row


def test_null_data_reports_the_api_reason():
    body = json.dumps({"data": None, "message": None,
                       "status": {"rCode": 400,
                                  "bCodeMessage": [{"code": 1001, "errorMessage": "bad date"}]}})
    with pytest.raises(SourceFormatError, match="bad date") as info:
        nasdaq.parse(body.encode(), URL)
    assert info.value.source == "nasdaq" and info.value.url == URL


@pytest.mark.parametrize(("body", "what"), [
    (b"", "empty body"),
    (b"   \n", "empty body"),
    (b"<html><body><h1>Access Denied</h1></body></html>", "HTML page"),
    (payload([row()])[:-20], "invalid JSON"),
    (b"\xff\xfe\x00", "UTF-8"),
    (json.dumps({"data": {"calendars": {"rows": []}}}).encode(), "'calendar'"),
    (json.dumps({"data": {"calendar": {"asOf": "x"}}}).encode(), "'rows'"),
    (json.dumps({"data": {"calendar": {"rows": {"a": 1}}}}).encode(), "not a list"),
    (json.dumps({"result": {}}).encode(), "'data'"),
    (json.dumps([1, 2]).encode(), "not a JSON object"),
])
def test_changed_payloads_raise_naming_what_is_missing(body, what):
    with pytest.raises(SourceFormatError, match=what) as info:
        nasdaq.parse(body, URL)
    assert URL in str(info.value) and str(info.value).startswith("nasdaq:")


def test_a_renamed_row_key_is_a_changed_shape_not_a_rejected_row():
    changed = row()
    changed["dividendRate"] = changed.pop("dividend_Rate")
    with pytest.raises(SourceFormatError, match="row 1 has no key 'dividend_Rate'"):
        nasdaq.parse(payload([row(), changed]), URL)
