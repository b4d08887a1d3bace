"""The HTTP layer against damaged and hostile answers."""

from __future__ import annotations

import pytest
import requests

from divpipe import net
from divpipe.net import yahoo as net_yahoo

HOST = "query2.finance.yahoo.com"


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


class _Trickle:
    """A local server that sends its body one byte at a time, each well within the read timeout."""

    def __init__(self, interval: float, size: int = 10_000):
        import http.server
        import threading
        import time

        stop = self.stop_event = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                for _ in range(size):
                    if stop.is_set():
                        return
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up: what the test wants
                    time.sleep(interval)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/calendar/dividends"

    def close(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_a_trickling_server_trips_the_overall_deadline_not_the_read_timeout(monkeypatch, sleeps):
    from divpipe import config
    from divpipe.errors import FetchError

    monkeypatch.setenv("HTTP_READ_TIMEOUT", "2")     # each byte comes 10x sooner than this
    monkeypatch.setenv("HTTP_TOTAL_TIMEOUT", "1.5")  # the whole body would take 100 s
    monkeypatch.setenv("HTTP_RETRIES", "1")
    config.reset_settings()
    net.reset()
    trickle = _Trickle(interval=0.01)
    try:
        with pytest.raises(FetchError, match="last status ResponseDeadline"):
            net.client("nasdaq").get(trickle.url)
    finally:
        trickle.close()
    assert net.stats()["127.0.0.1"]["retries"] == 1  # a deadline is retried like any timeout


def test_each_source_has_its_own_body_cap_under_the_global_one(monkeypatch):
    from divpipe import config

    settings = config.load_settings({"NASDAQ_MAX_BYTES": "5000", "HTTP_MAX_BYTES": "4000"}, dotenv=False)
    assert settings.max_bytes("nasdaq") == 4000
    defaults = config.load_settings({}, dotenv=False)
    assert defaults.max_bytes("nasdaq") < defaults.http_max_bytes
    assert all(defaults.max_bytes(s) <= defaults.http_max_bytes for s in config.SOURCES)
