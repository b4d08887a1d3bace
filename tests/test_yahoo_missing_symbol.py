"""Only Yahoo saying "no such symbol" counts towards exclusion; its server trouble never does."""

from __future__ import annotations

import pytest
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

from divpipe.errors import FetchError
from divpipe.fanout import CoolDown
from divpipe.jobs import yahoo_fetch
from divpipe.net import yahoo as net_yahoo


class _HTTPError(Exception):
    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.response = type("R", (), {"status_code": status})()


@pytest.mark.parametrize("exc", [
    yahoo_fetch.SymbolNotFound("no prices"),
    YFTzMissingError("ABC"),
    YFPricesMissingError("ABC", " (1d 2026-01-01 -> 2026-02-01)"),
    YFPricesMissingError("ABC", "", yahoo_reason="No data found, symbol may be delisted"),
    _HTTPError(404),
])
def test_yahoo_saying_it_has_nothing_is_a_missing_symbol(exc):
    assert yahoo_fetch.is_missing_symbol(exc)


@pytest.mark.parametrize("exc", [
    # A 5xx whose body is Yahoo's JSON error: yfinance makes a YFPricesMissingError of it.
    YFPricesMissingError("ABC", "", yahoo_reason="Internal Server Error"),
    YFPricesMissingError("ABC", "", yahoo_reason="Invalid input - period1/period2"),
    yahoo_fetch.YahooUnavailable("Yahoo failed"),
    YFRateLimitError(),
    _HTTPError(500),
    TimeoutError("read timed out"),
    None,
])
def test_server_trouble_and_bad_requests_are_not_a_missing_symbol(exc):
    assert not yahoo_fetch.is_missing_symbol(exc)


def _failing_after_yahoo_gave_up(exc, last="500"):
    def fn(symbol):
        # What the session wrapper does when a request's retries run out in this thread.
        net_yahoo._gave_up("query2.finance.yahoo.com", f"/v8/finance/chart/{symbol}", last)
        raise exc

    return fn


def test_a_no_data_error_made_of_a_server_error_is_yahoos_trouble():
    fn = yahoo_fetch.blaming_yahoo_failures(_failing_after_yahoo_gave_up(YFTzMissingError("ABC")))
    with pytest.raises(yahoo_fetch.YahooUnavailable) as err:
        fn("ABC")
    assert "query2.finance.yahoo.com/v8/finance/chart/ABC: 500" in str(err.value)
    assert not yahoo_fetch.is_missing_symbol(err.value)


def test_a_no_data_answer_without_server_errors_still_counts():
    def fn(symbol):
        raise YFPricesMissingError(symbol, " (1d 2026-01-01 -> 2026-02-01)")

    with pytest.raises(YFPricesMissingError) as err:
        yahoo_fetch.blaming_yahoo_failures(fn)("ABC")
    assert yahoo_fetch.is_missing_symbol(err.value)


def test_other_errors_pass_through_unchanged():
    fn = yahoo_fetch.blaming_yahoo_failures(_failing_after_yahoo_gave_up(YFRateLimitError(), "429"))
    with pytest.raises(YFRateLimitError):
        fn("ABC")


def test_the_yahoo_fanout_reports_server_trouble_as_such(monkeypatch):
    monkeypatch.setattr(yahoo_fetch, "YahooCoolDown", lambda **kw: CoolDown(base=0.0))
    fn = _failing_after_yahoo_gave_up(YFPricesMissingError("ABC", ""), "ReadTimeout")
    [outcome] = list(yahoo_fetch.yahoo_fanout(["ABC"], fn, workers=1, tty=False))
    assert isinstance(outcome.exception, yahoo_fetch.YahooUnavailable)
    assert not yahoo_fetch.is_missing_symbol(outcome.exception)


def test_only_yfinances_rate_limit_errors_are_the_yahoo_fanouts_rate_limits():
    assert yahoo_fetch.is_rate_limited(YFRateLimitError())
    assert yahoo_fetch.is_rate_limited(_HTTPError(429))
    # net gave up on it already, after its own retries and cool-downs
    assert not yahoo_fetch.is_rate_limited(FetchError("query2.finance.yahoo.com", "/x", 429))
