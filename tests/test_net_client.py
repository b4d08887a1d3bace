"""Retries, Retry-After, give-up errors, size caps and headers of the HTTP client."""

from __future__ import annotations

import pytest
import requests

from divpipe import config, net
from divpipe.errors import FetchError, SourceFormatError
from divpipe.net import httpclient as client_mod
from divpipe.sources import nasdaq

CALENDAR = "https://api.nasdaq.com/api/calendar/dividends"


def _calendar(sim):
    return net.client("nasdaq").get(CALENDAR, params={"date": sim.universe.today.isoformat()})


def test_recovers_from_429_with_retry_after_500_and_reset(sim, sleeps):
    sim.inject("429", "500", "reset", host="api.nasdaq.com")
    response = _calendar(sim)
    assert response.status == 200 and "calendar" in response.json()["data"]
    assert sim.requests_to("api.nasdaq.com") == 4
    assert sim.stats()["faults"] == {"429": 1, "500": 1, "reset": 1}
    assert net.stats()["api.nasdaq.com"]["retries"] == 3
    # Retry-After: 1 paused the host's bucket for a second before the next attempt.
    first, second = sim.arrivals("api.nasdaq.com")[:2]
    assert second - first >= 0.95
    assert len(sleeps) == 2  # backoff after the 500 and the reset, none after the 429


def test_backoff_grows_exponentially_with_jitter(sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_BACKOFF", "1.0")
    config.reset_settings()
    net.reset()
    sim.inject("500", "500", "500", host="api.nasdaq.com")
    _calendar(sim)
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0 and 2.0 <= sleeps[2] <= 4.0


def test_gives_up_after_the_configured_attempts_with_a_clear_error(sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_RETRIES", "2")
    config.reset_settings()
    net.reset()
    sim.inject(*["500"] * 5, host="api.nasdaq.com")
    with pytest.raises(FetchError) as err:
        net.client("nasdaq").get(CALENDAR, params={"date": "2026-01-05", "token": "s3cret"})
    message = str(err.value)
    assert message == "giving up on api.nasdaq.com/api/calendar/dividends: last status 500"
    assert sim.requests_to("api.nasdaq.com") == 3


def test_resets_to_the_end_name_the_exception_not_the_url(sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_RETRIES", "1")
    config.reset_settings()
    net.reset()
    sim.inject("reset", "reset", host="api.nasdaq.com")
    with pytest.raises(FetchError, match=r"giving up on api\.nasdaq\.com/api/calendar/dividends: "
                                         r"last status ConnectionError$"):
        net.client("nasdaq").get(CALENDAR, params={"date": "2026-01-05", "token": "s3cret"})


def test_get_json_retries_truncated_and_malformed_bodies(sim, sleeps):
    sim.inject("truncated", "malformed", host="snowball-analytics.com")
    payload = net.client("snowball").get_json(
        "https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged",
        params={"type": "us-popular-div", "page": 1, "pageSize": 50})
    assert "totalCount" in payload
    assert sim.requests_to("snowball-analytics.com") == 3


def test_a_body_that_fails_validation_is_fetched_again(sim, sleeps):
    sim.inject("malformed", host="api.nasdaq.com")
    url = f"{CALENDAR}?date={sim.universe.today.isoformat()}"
    response = net.client("nasdaq").get(url, validate=lambda body: nasdaq.parse(body, url))
    assert response.validated.records == nasdaq.parse(response.content, url).records
    assert sim.requests_to("api.nasdaq.com") == 2
    assert net.stats()["api.nasdaq.com"]["retries"] == 1 and len(sleeps) == 1


def test_a_body_that_never_validates_raises_the_validators_error(sim, sleeps):
    def changed_shape(body: bytes):
        raise SourceFormatError("nasdaq", CALENDAR, "has no key 'rows'")

    with pytest.raises(SourceFormatError, match="has no key 'rows'"):
        net.client("nasdaq").get(f"{CALENDAR}?date=2026-11-02", validate=changed_shape)
    assert sim.requests_to("api.nasdaq.com") == 1 + client_mod.FORMAT_RETRIES
    assert net.stats()["api.nasdaq.com"]["failures"] == 1


def test_client_errors_are_not_retried_unless_accepted(sim, sleeps):
    http = net.client("yieldmax")
    with pytest.raises(FetchError, match="last status 404"):
        http.get("https://yieldmaxetfs.com/our-etfs/nosuchfund/")
    assert sim.requests_to("yieldmaxetfs.com") == 1
    assert http.get("https://yieldmaxetfs.com/our-etfs/nosuchfund/", accept_status=(404,)).status == 404


def test_response_size_cap(sim, monkeypatch):
    monkeypatch.setenv("HTTP_MAX_BYTES", "1024")
    config.reset_settings()
    net.reset()
    with pytest.raises(FetchError, match="body too large"):
        net.client("nasdaqtrader").get("https://www.nasdaqtrader.com/dynamic/SymDir/otherlisted.txt")


def test_nasdaq_gets_browser_headers_and_a_bare_client_hangs(sim):
    sim.nasdaq_hang_seconds = 3
    assert _calendar(sim).status == 200
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(sim.url + "/api/calendar/dividends", headers={"X-Original-Host": "api.nasdaq.com"},
                     timeout=(1, 0.5))


def test_read_timeout_is_retried(sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_READ_TIMEOUT", "0.2")
    config.reset_settings()
    net.reset()
    sim.inject("slow", host="www.nyse.com")
    assert net.client("nyse").get("https://www.nyse.com/ex-date-dividends").status == 200
    assert net.stats()["www.nyse.com"] == {"requests": 2, "retries": 1, "failures": 0,
                                            "throttled_ms": net.stats()["www.nyse.com"]["throttled_ms"]}


def test_one_client_per_source_and_unknown_sources_refused():
    assert net.client("cboe") is net.client("cboe")
    with pytest.raises(ValueError, match="unknown source"):
        net.client("nope")


def test_redirects_are_followed_through_the_simulator(sim):
    fund = next(c for c in sim.universe.listed() if c.issuer == "YieldMax")
    url = f"https://yieldmaxetfs.com/our-etfs/{fund.symbol.lower()}"
    response = net.client("yieldmax").get(url)
    assert response.status == 200 and fund.symbol in response.text
    assert response.url == url + "/"
    assert sim.stats()["requests"]["yieldmaxetfs.com"] == {f"/our-etfs/{fund.symbol.lower()}": 1,
                                                           f"/our-etfs/{fund.symbol.lower()}/": 1}


def test_every_random_fault_costs_exactly_one_retry(make_sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_RETRIES", "8")
    sim = make_sim(fault_rate=0.3, fault_kinds=("500", "reset", "truncated", "malformed"))
    http = net.client("snowball")
    for page in range(1, 31):
        payload = http.get_json("https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged",
                                params={"type": "us-popular-div", "page": page, "pageSize": 5})
        assert "data" in payload
    faults = sum(sim.stats()["faults"].values())
    assert faults >= 3
    assert net.stats()["snowball-analytics.com"]["retries"] == faults
    assert net.stats()["snowball-analytics.com"]["requests"] == 30 + faults
