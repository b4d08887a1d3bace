"""With DIVPIPE_SIMULATOR_URL set, no request goes anywhere but the simulator.

Two nets catch a stray request:
- every proxy variable points at a local trap that records connections, so
  libcurl inside curl_cffi (which opens sockets outside Python) and requests
  would both end up there for any non-local host;
- Python's socket layer refuses and records any connection or name lookup
  for a non-loopback address.
"""

from __future__ import annotations

import socket
import threading

import pytest
import yfinance as yf

from divpipe import net

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class Trap:
    """A TCP listener that records every connection and closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.sock.close()


def _is_loopback(host) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or str(host).startswith("127.")


@pytest.fixture
def fenced(monkeypatch):
    trap = Trap()
    for var in PROXY_VARS:
        monkeypatch.setenv(var, trap.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    escapes: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            escapes.append(f"connect {address[0]}")
            raise OSError("test fence: non-local connection refused")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            escapes.append(f"lookup {host}")
            raise socket.gaierror("test fence: no lookups of outside names")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield trap, escapes
    trap.close()


def test_the_fence_catches_a_request_that_bypasses_the_redirect(fenced):
    trap, escapes = fenced
    from curl_cffi import requests as curl_requests

    session = curl_requests.Session()
    session._divpipe_managed = True  # the wrapper lets it through untouched
    with pytest.raises(Exception):  # noqa: B017 - any failure will do, the trap is the point
        session.get("https://query2.finance.yahoo.com/v8/finance/chart/X", timeout=2)
    assert trap.connections >= 1
    with pytest.raises(Exception):  # noqa: B017
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert escapes


def test_a_yfinance_and_scraper_session_reaches_only_the_simulator(make_sim, fenced):
    sim = make_sim()
    trap, escapes = fenced
    u = sim.universe
    stock = next(c for c in u.listed() if c.pays and not c.is_etf)
    etf = next(c for c in u.listed() if c.is_etf)
    ticker = yf.Ticker(stock.yahoo_symbol)
    assert not ticker.history(period="1mo", actions=True).empty
    assert ticker.info["longName"] == stock.name
    assert not yf.Ticker(etf.yahoo_symbol).funds_data.top_holdings.empty
    assert not yf.download([c.yahoo_symbol for c in u.listed()[:3]], period="5d", progress=False,
                           threads=True, auto_adjust=False).empty

    today = u.today.isoformat()
    net.client("nasdaq").get_json("https://api.nasdaq.com/api/calendar/dividends", params={"date": today})
    net.client("nasdaqtrader").get("https://www.nasdaqtrader.com/dynamic/SymDir/nasdaqlisted.txt")
    net.client("cboe").get_json("https://www.cboe.com/us/equities/notices/data/dividends/",
                                params={"year": u.today.year})
    net.client("yieldmax").get("https://yieldmaxetfs.com/our-etfs/")
    net.client("nyse").get("https://www.nyse.com/ex-date-dividends")
    net.client("snowball").get_json("https://snowball-analytics.com/extapi/api/public/dividend-calendar/paged",
                                    params={"type": "sp500", "page": 1, "pageSize": 50})

    assert escapes == [] and trap.connections == 0
    served = sim.stats()["requests"]
    assert {"api.nasdaq.com", "www.nasdaqtrader.com", "www.cboe.com", "yieldmaxetfs.com", "www.nyse.com",
            "snowball-analytics.com", "query2.finance.yahoo.com", "fc.yahoo.com"} <= served.keys()
    # Every request the process counted was one the simulator served.
    assert net.request_count() == sim.stats()["total"]
