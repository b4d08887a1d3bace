"""The yfinance session wrapper retries like our own client, and remembers what it gave up on."""

from __future__ import annotations

import pytest
import requests

from divpipe import config, net
from divpipe.net import yahoo as net_yahoo

HOST = "query2.finance.yahoo.com"


def _chart_url(sim) -> str:
    company = sim.universe.listed()[0]
    return f"https://{HOST}/v8/finance/chart/{company.yahoo_symbol}?range=5d&interval=1d"


def _yfinance_session() -> requests.Session:
    # An unmarked session, as yfinance builds them: the class-level wrapper handles it.
    session = requests.Session()
    session.trust_env = False
    return session


def test_5xx_and_resets_are_retried_with_backoff(sim, sleeps):
    sim.inject("500", "reset", "500", host=HOST)
    with net_yahoo.failed_requests() as failed:
        response = _yfinance_session().get(_chart_url(sim), timeout=5)
    assert response.status_code == 200 and response.json()["chart"]["result"]
    assert sim.stats()["faults"] == {"500": 2, "reset": 1}
    assert net.stats()[HOST]["requests"] == 4 and net.stats()[HOST]["retries"] == 3
    assert len(sleeps) == 3 and failed == []


def test_retry_after_of_a_503_is_honoured(sleeps, monkeypatch):
    class Answer:
        def __init__(self, status, headers=None):
            self.status_code, self.headers = status, headers or {}

    answers = [Answer(503, {"Retry-After": "7"}), Answer(200)]
    response = net_yahoo._send(lambda: answers.pop(0), None, HOST, "/v8/finance/chart/X", False)
    assert response.status_code == 200
    assert sleeps == [7.0]


def test_after_the_last_retry_yfinance_gets_the_last_answer_unchanged(sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_RETRIES", "2")
    config.reset_settings()
    sim.inject(*["500"] * 5, host=HOST)
    with net_yahoo.failed_requests() as failed:
        response = _yfinance_session().get(_chart_url(sim), timeout=5)
    assert response.status_code == 500 and b"Internal Server Error" in response.content
    assert sim.requests_to(HOST) == 3
    assert failed == [f"{HOST}/v8/finance/chart/{sim.universe.listed()[0].yahoo_symbol}: 500"]
    assert net.stats()[HOST]["failures"] == 1


def test_resets_to_the_end_raise_the_sessions_own_exception(sim, sleeps, monkeypatch):
    monkeypatch.setenv("HTTP_RETRIES", "1")
    config.reset_settings()
    sim.inject("reset", "reset", host=HOST)
    with net_yahoo.failed_requests() as failed, pytest.raises(requests.ConnectionError):
        _yfinance_session().get(_chart_url(sim), timeout=5)
    assert sim.requests_to(HOST) == 2
    assert failed and failed[0].endswith(": ConnectionError")


def test_a_429_is_not_retried_here_but_pauses_every_yahoo_request(sim, sleeps):
    sim.inject("429", host=HOST)
    with net_yahoo.failed_requests() as failed:
        response = _yfinance_session().get(_chart_url(sim), timeout=5)
    assert response.status_code == 429
    assert sim.requests_to(HOST) == 1 and sleeps == []
    assert net_yahoo.cooldown_remaining() > 0  # the simulator's Retry-After: 1
    assert failed == [f"{HOST}/v8/finance/chart/{sim.universe.listed()[0].yahoo_symbol}: 429"]


def test_404_is_an_answer_not_a_failure(sim, sleeps):
    with net_yahoo.failed_requests() as failed:
        response = _yfinance_session().get(f"https://{HOST}/v8/finance/chart/NOSUCH?range=5d", timeout=5)
    assert response.status_code == 404
    assert sim.requests_to(HOST) == 1 and failed == []


def test_failures_are_collected_per_thread_and_by_enclosing_watches():
    with net_yahoo.failed_requests() as outer:
        net_yahoo._gave_up(HOST, "/a", 502)
        with net_yahoo.failed_requests() as inner:
            net_yahoo._gave_up(HOST, "/b", "ReadTimeout")
        assert inner == [f"{HOST}/b: ReadTimeout"]
    assert outer == [f"{HOST}/a: 502", f"{HOST}/b: ReadTimeout"]
