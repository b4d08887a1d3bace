"""Real tickers are never read as missing, and symbols are never folded from non-ASCII."""

from __future__ import annotations

import pytest

from divpipe.sources import nasdaq, nasdaqtrader, normalize, yahoo


@pytest.mark.parametrize("ticker", ["NA", "NONE", "NULL", "na", "Null"])
def test_na_none_and_null_are_tickers(ticker):
    assert normalize.symbol(ticker) == ticker.upper()


@pytest.mark.parametrize(("raw", "folded"), [("ﬁx", "FIX"), ("ß", "SS"), ("ıbm", "IBM"), ("ＡＡＰＬ", "AAPL"),
                                             ("İbm", "IBM")])
def test_symbols_are_never_case_folded_from_non_ascii(raw, folded):
    with pytest.raises(normalize.InvalidValue, match="not a valid symbol"):
        normalize.symbol(raw)
    # Yahoo's spelling (ETF holdings) is translated without inventing a ticker either.
    assert yahoo.from_yahoo_symbol(raw) != folded


@pytest.mark.parametrize("marker", ["N/A", "", "  ", "-"])
def test_only_explicit_markers_mean_a_missing_symbol(marker):
    with pytest.raises(normalize.InvalidValue, match="symbol is missing"):
        normalize.symbol(marker)


def test_the_directory_lists_na_as_a_fund():
    body = (b"ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol\n"
            b"NA|Keystone Equity Income ETF|P|NA|Y|100|N|NA\n"
            b"\xef\xac\x81x|Ligature Inc|N|FIX|N|100|N|FIX\n"
            b"File Creation Time: 1120202618:01||||||\n")
    result = nasdaqtrader.parse(body, nasdaqtrader.OTHER_LISTED_URL)
    assert [r.symbol for r in result.records] == ["NA"]
    assert [r.reason for r in result.rejected] == ["not a valid symbol: 'ﬁx'"]


def test_nasdaq_calendar_row_for_null_is_kept_and_its_na_amount_is_unknown():
    import json

    body = json.dumps({"data": {"calendar": {"rows": [
        {"companyName": "Null Corp", "symbol": "NULL", "dividend_Ex_Date": "10/02/2026",
         "payment_Date": "N/A", "record_Date": "N/A", "dividend_Rate": 0.1,
         "indicated_Annual_Dividend": "N/A", "announcement_Date": "N/A"}]}},
        "status": {"rCode": 200}}).encode()
    result = nasdaq.parse(body, "https://api.nasdaq.com/api/calendar/dividends?date=2026-10-02")
    assert [(r.symbol, r.payment_date, r.indicated_annual_dividend) for r in result.records] == [
        ("NULL", None, None)]
