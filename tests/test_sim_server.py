"""The simulator's server: routing, faults, rate limit, stats, truth, and its command line."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from divpipe.sim.cli import broken_page
from divpipe.sim.server import SimServer
from divpipe.sim.universe import Universe

NYSE = {"X-Original-Host": "www.nyse.com"}


@pytest.fixture(scope="module")
def universe():
    return Universe(40, 9)


def _get(server, path="/ex-date-dividends", headers=NYSE, **kw):
    return requests.get(server.url + path, headers=headers, timeout=5, **kw)


def test_routes_on_the_original_host(universe):
    with SimServer(universe) as server:
        assert "Ex-Date Dividends" in _get(server).text
        r = _get(server, "/dynamic/SymDir/nasdaqlisted.txt", headers={"X-Original-Host": "www.nasdaqtrader.com"})
        assert r.text.startswith("Symbol|Security Name")
        assert _get(server, headers={"X-Original-Host": "www.example.com"}).status_code == 404
        assert server.stats()["requests"] == {
            "www.nyse.com": {"/ex-date-dividends": 1},
            "www.nasdaqtrader.com": {"/dynamic/SymDir/nasdaqlisted.txt": 1},
            "www.example.com": {"/ex-date-dividends": 1},
        }


def _fault_sequence(universe, n=60):
    kinds = []
    with SimServer(universe, fault_rate=0.3, seed=42, fault_kinds=("500", "malformed")) as server:
        for _ in range(n):
            r = _get(server)
            kinds.append("500" if r.status_code == 500 else "malformed" if "</html>" not in r.text else None)
        return kinds, server.stats()["faults"]


def test_faults_are_seeded_and_counted(universe):
    first, counted = _fault_sequence(universe)
    second, _ = _fault_sequence(universe)
    assert first == second
    assert counted == {k: first.count(k) for k in ("500", "malformed") if first.count(k)}
    assert 5 <= sum(k is not None for k in first) <= 35


def test_reset_and_truncated_bodies_break_the_connection(universe):
    with SimServer(universe) as server:
        server.inject("reset", "truncated")
        with pytest.raises(requests.ConnectionError):
            _get(server)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _get(server)
        assert _get(server).status_code == 200
        assert server.stats()["faults"] == {"reset": 1, "truncated": 1}


def test_rate_limit_answers_429_with_retry_after_per_host(universe):
    with SimServer(universe, rate_limit=3) as server:
        statuses = [_get(server).status_code for _ in range(6)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses
        limited = _get(server)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        # Another host has its own budget.
        other = _get(server, "/our-etfs/", headers={"X-Original-Host": "yieldmaxetfs.com"})
        assert other.status_code == 200


def test_latency_applies_to_every_response(universe):
    with SimServer(universe, latency_ms=150) as server:
        start = time.monotonic()
        _get(server)
        assert time.monotonic() - start >= 0.15


def test_truth_stats_and_inject_over_http(universe):
    with SimServer(universe) as server:
        truth = requests.get(server.url + "/__sim/truth", timeout=5).json()
        assert [c["symbol"] for c in truth["companies"]] == universe.symbols
        payer = next(c for c in universe.listed() if c.pays)
        one = requests.get(server.url + "/__sim/truth", params={"symbol": payer.symbol}, timeout=5).json()
        assert len(one["dividends"]) == len(universe.dividends(payer.symbol, include_estimates=True))
        assert requests.get(server.url + "/__sim/inject", params={"kinds": "500", "host": "www.nyse.com"},
                            timeout=5).json() == {"ok": True}
        assert _get(server).status_code == 500
        assert requests.get(server.url + "/__sim/inject", params={"kinds": "boom"}, timeout=5).status_code == 400
        stats = requests.get(server.url + "/__sim/stats", timeout=5).json()
        assert stats["faults"] == {"500": 1} and stats["total"] == 1


NASDAQ = {"X-Original-Host": "api.nasdaq.com", "User-Agent": "Mozilla/5.0", "Origin": "https://www.nasdaq.com"}


def test_a_broken_page_fails_every_time_and_only_it(universe):
    day = next(d.ex_date for d in universe.covered("nasdaq") if d.ex_date >= universe.today)
    with SimServer(universe) as server:
        assert requests.get(server.url + "/__sim/break", timeout=5, params={
            "host": "api.nasdaq.com", "query": f"date={day}"}).json() == {"ok": True}
        for _ in range(3):
            assert _get(server, "/api/calendar/dividends", NASDAQ, params={"date": str(day)}).status_code == 500
        other = _get(server, "/api/calendar/dividends", NASDAQ, params={"date": str(day + dt.timedelta(days=1))})
        assert other.status_code == 200
        assert requests.get(server.url + "/__sim/break", params={"kind": "boom"}, timeout=5).status_code == 400


def test_cli_broken_page_argument():
    assert broken_page("api.nasdaq.com?date=2026-11-20") == {
        "host": "api.nasdaq.com", "path_prefix": None, "query": "date=2026-11-20"}
    assert broken_page("yieldmaxetfs.com/our-etfs/ulty/") == {
        "host": "yieldmaxetfs.com", "path_prefix": "/our-etfs/ulty/", "query": None}


def test_cli_writes_the_port_file_serves_and_stops_on_sigterm(tmp_path):
    port_file = tmp_path / "sim.port"
    proc = subprocess.Popen([sys.executable, "-m", "divpipe", "sim", "--port", "0", "--port-file", str(port_file),
                             "--symbols", "30", "--seed", "3", "--latency-ms", "1"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "DIVPIPE_ENV_FILE": os.devnull})
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = int(port_file.read_text())
        r = requests.get(f"http://127.0.0.1:{port}/__sim/truth", timeout=5)
        assert r.json()["n_symbols"] == 30
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "✅ simulator" in proc.stderr.read()
        assert not port_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args, message", [
    (["--symbols", "0"], "--symbols"),
    (["--fault-rate", "2"], "--fault-rate"),
    (["--fault-kinds", "500,fire"], "--fault-kinds"),
    (["--port-file", "/nonexistent/dir/port"], "does not exist"),
    (["--broken-page", "/our-etfs/ulty/"], "--broken-page needs a host"),
])
def test_cli_bad_usage_exits_2_with_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "divpipe", "sim", *args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1

