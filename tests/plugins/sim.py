"""Simulator fixtures: a running simulated market that every outbound request reaches.

`sim`      a started SimServer over a 60-symbol universe (seed 7); `.url`,
           `.universe` (the truth), `.stats()`, `.inject(...)`.
`make_sim` a factory: make_sim(n_symbols=60, seed=7, latency_ms=0, rate_limit=None,
           fault_rate=0.0, fault_kinds=..., today=None, client_rate=200.0, retry_after=1).

Either one sets DIVPIPE_SIMULATOR_URL (the last server made wins), lifts the
per-source client rate limits to `client_rate` requests/s (tests should not
wait on politeness meant for real sites; the rate-limit tests set their own),
shortens the retry backoff, points yfinance's caches into the test's tmp dir
and resets yfinance's process-wide session, cookie and crumb, and the HTTP
layer's clients, buckets and counters. Universes are cached per
(n_symbols, seed, today): building one is deterministic and they are never
modified through the public API.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import pytest

from divpipe import config, net
from divpipe.net import yahoo as net_yahoo
from divpipe.sim.faults import RANDOM_KINDS
from divpipe.sim.server import SimServer
from divpipe.sim.universe import Universe


@lru_cache(maxsize=8)
def cached_universe(n_symbols: int, seed: int, today: dt.date | None) -> Universe:
    return Universe(n_symbols, seed, today)


def _reset_process_state() -> None:
    config.reset_settings()
    net.reset()
    net_yahoo.reset_yfinance_state()


@pytest.fixture
def make_sim(monkeypatch, tmp_path):
    servers: list[SimServer] = []

    def factory(n_symbols: int = 60, seed: int = 7, latency_ms: float = 0, rate_limit: float | None = None,
                fault_rate: float = 0.0, fault_kinds: tuple[str, ...] = RANDOM_KINDS,
                today: dt.date | None = None, client_rate: float | None = 200.0,
                retry_after: float = 1, polygon_limit: tuple[int, float] = (5, 60.0)) -> SimServer:
        universe = cached_universe(n_symbols, seed, today)
        server = SimServer(universe, latency_ms=latency_ms, rate_limit=rate_limit, fault_rate=fault_rate,
                           seed=seed, fault_kinds=fault_kinds, retry_after=retry_after,
                           polygon_limit=polygon_limit).start()
        servers.append(server)
        monkeypatch.setenv("DIVPIPE_SIMULATOR_URL", server.url)
        monkeypatch.setenv("DIVPIPE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("HTTP_BACKOFF", "0.05")
        if client_rate is not None:
            for source in config.SOURCES:
                monkeypatch.setenv(f"{source.upper()}_RATE_LIMIT", str(client_rate))
        _reset_process_state()
        net_yahoo.prepare_yfinance()
        return server

    yield factory
    for server in servers:
        server.stop()
    _reset_process_state()


@pytest.fixture
def sim(make_sim) -> SimServer:
    return make_sim()


@pytest.fixture
def sleeps(monkeypatch):
    """The retry policy's back-off sleeps, recorded instead of slept."""
    from divpipe.net import retrypolicy

    seen: list[float] = []
    monkeypatch.setattr(retrypolicy, "_sleep", seen.append)
    return seen
