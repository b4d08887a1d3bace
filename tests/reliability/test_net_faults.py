"""The HTTP layer against damaged and hostile answers."""

from __future__ import annotations

import pytest
import requests

from divpipe import net
from divpipe.net import retrypolicy
from divpipe.net import yahoo as net_yahoo

HOST = "query2.finance.yahoo.com"


@pytest.fixture
def sleeps(monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr(retrypolicy, "_sleep", seen.append)
    return seen


def test_a_garbled_200_yahoo_body_is_fetched_again(sim, sleeps):
    company = sim.universe.listed()[0]
    sim.inject("malformed", "malformed", host=HOST)
    session = requests.Session()  # unmarked, as yfinance builds them: the class-level wrapper handles it
    session.trust_env = False
    with net_yahoo.failed_requests() as failed:
        response = session.get(f"https://{HOST}/v8/finance/chart/{company.yahoo_symbol}?range=5d&interval=1d",
                               timeout=5)
    assert response.status_code == 200 and response.json()["chart"]["result"]
    assert sim.stats()["faults"] == {"malformed": 2}
    assert net.stats()[HOST]["retries"] == 2 and failed == []
