"""divpipe.sources.nasdaqtrader: parsing the two symbol directory files."""

from __future__ import annotations

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import nasdaqtrader
from divpipe.sources.nasdaqtrader import ListedSymbol

NASDAQ = nasdaqtrader.NASDAQ_LISTED_URL
OTHER = nasdaqtrader.OTHER_LISTED_URL

NASDAQ_FILE = (
    b"Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares\r\n"
    b"AAPL|Apple Inc. - Common Stock|Q|N|N|100|N|N\r\n"
    b"QQQ|Invesco QQQ Trust, Series 1|G|N|N|100|Y|N\r\n"
    b"ZXZZT|NASDAQ TEST STOCK|G|Y|N|100|N|N\r\n"
    b"File Creation Time: 1120202618:01|||||||\r\n"
)

OTHER_FILE = (
    b"ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol\n"
    b"BRK.B|Berkshire Hathaway Inc. Class B|N|BRK.B|N|100|N|BRK.B\n"
    b"SPY|SPDR S&P 500 ETF Trust|P|SPY|Y|100|N|SPY\n"
    b"IMO|Imperial Oil Limited|A|IMO|N|100|N|IMO\n"
    b"CBOE|Cboe Global Markets|Z|CBOE|N|100|N|CBOE\n"
    b"IEXA|IEX Thing|V|IEXA|N|100|N|IEXA\n"
    b"NTEST|NYSE Test|N|NTEST|N|100|Y|NTEST\n"
    b"File Creation Time: 1120202618:01||||||\n"
)


def test_nasdaq_listed_drops_test_issues_and_maps_the_etf_flag():
    result = nasdaqtrader.parse(NASDAQ_FILE, NASDAQ)
    assert result.records == [
        ListedSymbol("AAPL", "Apple Inc. - Common Stock", "NASDAQ", "EQUITY"),
        ListedSymbol("QQQ", "Invesco QQQ Trust, Series 1", "NASDAQ", "ETF"),
    ]
    assert result.test_issues == 1
    assert result.rejected == []


def test_other_listed_maps_exchange_codes_to_names():
    result = nasdaqtrader.parse(OTHER_FILE, OTHER)
    assert [(r.symbol, r.exchange, r.quote_type) for r in result.records] == [
        ("BRK.B", "NYSE", "EQUITY"),
        ("SPY", "NYSE Arca", "ETF"),
        ("IMO", "NYSE American", "EQUITY"),
        ("CBOE", "Cboe BZX", "EQUITY"),
        ("IEXA", "IEX", "EQUITY"),
    ]
    assert result.test_issues == 1


def test_bad_rows_are_rejected_with_a_reason_and_the_rest_kept():
    body = (
        b"ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol\n"
        b"ABR$D|Arbor Realty Pref D|N|ABR-D|N|100|N|ABR-D\n"
        b"OK|Fine Co|N|OK|N|100|N|OK\n"
        b"WEIRD|Somewhere Co|X|WEIRD|N|100|N|WEIRD\n"
        b"FLAG|Flag Co|N|FLAG|maybe|100|N|FLAG\n"
        b"SHORT|Too few fields|N\n"
        b"File Creation Time: 1120202618:01||||||\n"
    )
    result = nasdaqtrader.parse(body, OTHER)
    assert [r.symbol for r in result.records] == ["OK"]
    reasons = [r.reason for r in result.rejected]
    assert reasons[0].startswith("not a valid symbol")
    assert reasons[1] == "unknown exchange code 'X'"
    assert reasons[2] == "ETF flag 'maybe' is neither Y nor N"
    assert reasons[3] == "3 fields, the header has 8"


def test_file_without_the_creation_time_line_was_cut_short():
    truncated = NASDAQ_FILE.rsplit(b"File Creation", 1)[0]
    with pytest.raises(SourceFormatError, match="File Creation Time"):
        nasdaqtrader.parse(truncated, NASDAQ)


def test_changed_header_is_a_format_error_naming_the_column():
    body = OTHER_FILE.replace(b"ACT Symbol|", b"Ticker|")
    with pytest.raises(SourceFormatError, match="'ACT Symbol'"):
        nasdaqtrader.parse(body, OTHER)


@pytest.mark.parametrize("body", [b"", b"\n\n", b"<html><body>Service unavailable</body></html>"])
def test_empty_or_html_body_is_a_format_error(body):
    with pytest.raises(SourceFormatError):
        nasdaqtrader.parse(body, NASDAQ)


def test_urls_cover_both_files():
    assert nasdaqtrader.urls() == [NASDAQ, OTHER]
