"""The simulator counts requests per host per second, and says so in its stats and over HTTP."""

from __future__ import annotations

import time

import requests

from divpipe.sim.server import SimServer
from divpipe.sim.universe import Universe


def _get(server, host: str, path: str = "/ex-date-dividends"):
    return requests.get(server.url + path, headers={"X-Original-Host": host}, timeout=5)


def test_requests_are_counted_per_host_per_second():
    # One request per 10 s: the first is answered, the next ones refused.
    with SimServer(Universe(20, 1), rate_limit=0.1, retry_after=7) as server:
        before = int(time.time())
        for _ in range(4):
            _get(server, "www.nyse.com")
        refused = _get(server, "www.nyse.com")
        _get(server, "www.cboe.com", "/us/equities/notices/data/dividends/")
        after = int(time.time())

        # 429s are counted too: a site counts what it receives, answered or not.
        nyse = server.per_second("www.nyse.com")
        assert sum(nyse.values()) == 5 and all(before <= s <= after for s in nyse)
        assert sum(server.per_second("www.cboe.com").values()) == 1
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "7"

        over_http = requests.get(server.url + "/__sim/stats", timeout=5).json()["per_second"]
        assert {h: sum(c.values()) for h, c in over_http.items()} == {"www.cboe.com": 1, "www.nyse.com": 5}
        server.reset_stats()
        assert server.per_second("www.nyse.com") == {} and server.stats()["per_second"] == {}
