"""The per-host limit holds across OS processes, counted where a site counts: at the simulator.

Each sender is its own Python process (tests/ratelimit_worker.py) with its
own HTTP client and limiter, sharing the limit's state through PostgreSQL
or Redis. With a limit per process, three senders would put about three
times the limit into each second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .plugins.redis import REDIS_URL

WORKER = Path(__file__).with_name("ratelimit_worker.py")
HOST = "api.nasdaq.com"
RATE, BURST = 10, 2
PROCESSES, EACH = 3, 12


@pytest.fixture(params=["postgres", "redis"])
def shared_env(request, make_db, monkeypatch):
    """The environment of the worker processes: the simulator, the limits and one shared store."""
    env = dict(os.environ)
    env.update({"NASDAQ_RATE_LIMIT": str(RATE), "RATE_LIMIT_BURST": str(BURST), "HTTP_BACKOFF": "0.05"})
    if request.param == "postgres":
        env["DATABASE_URL"] = make_db()
    else:
        env["RATE_LIMIT_REDIS_URL"] = REDIS_URL
        env["RATE_LIMIT_REDIS_PREFIX"] = request.getfixturevalue("redis_prefix")
    return env


def _run(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run([sys.executable, str(WORKER), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _start_senders(env, tmp_path: Path, processes: int, each: int) -> list[subprocess.Popen]:
    go = tmp_path / "go"
    senders = []
    for i in range(processes):
        ready = tmp_path / f"ready{i}"
        senders.append((ready, subprocess.Popen(
            [sys.executable, str(WORKER), "send", str(each), str(ready), str(go)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    # Start together, once every process is set up: otherwise the first could
    # finish before the last starts, and no limit would be needed.
    deadline = time.monotonic() + 120
    while not all(ready.exists() for ready, _ in senders):
        assert time.monotonic() < deadline, "a sender never got ready"
        assert all(p.poll() is None for _, p in senders), [p.communicate() for _, p in senders]
        time.sleep(0.05)
    go.touch()
    return [p for _, p in senders]


def _results(senders: list[subprocess.Popen]) -> list[dict]:
    results = []
    for p in senders:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_three_processes_stay_within_one_limit_plus_burst(make_sim, shared_env, tmp_path):
    sim = make_sim(client_rate=None)
    shared_env["DIVPIPE_SIMULATOR_URL"] = sim.url
    results = _results(_start_senders(shared_env, tmp_path, PROCESSES, EACH))

    assert all(r["statuses"] == [200] * EACH for r in results)
    assert {r["store"] for r in results} == ({"PostgreSQL"} if "DATABASE_URL" in shared_env
                                             else {"Redis at 127.0.0.1:6379"})
    per_second = sim.per_second(HOST)
    assert sum(per_second.values()) == PROCESSES * EACH
    # Any second of sending holds at most RATE slots plus the BURST; a request
    # may arrive up to half a second late on a busy machine, so half a second
    # of slots is the slack. A limit per process would put 3 x RATE there.
    ceiling = RATE + BURST + RATE // 2
    assert max(per_second.values()) <= ceiling, per_second
    # And the whole batch took as long as the limit demands: the seconds it
    # spans hold no more than the slots they offer.
    seconds = max(per_second) - min(per_second) + 1
    assert PROCESSES * EACH <= BURST + RATE * seconds, per_second


def test_a_429_seen_by_one_process_pauses_the_others(make_sim, shared_env, tmp_path):
    sim = make_sim(client_rate=None, retry_after=90)
    sim.inject("429", host=HOST)
    env = {**shared_env, "DIVPIPE_SIMULATOR_URL": sim.url, "HTTP_RETRIES": "0"}
    (tmp_path / "go").touch()
    first = _run(env, "send", "1", str(tmp_path / "ready"), str(tmp_path / "go"))
    assert first["statuses"] == [429]
    # Another process, started afterwards, finds the host paused for the
    # rest of the Retry-After, and sends nothing.
    paused = _run(env, "paused")["paused"]
    assert 0 < paused <= 90
    assert sim.requests_to(HOST) == 1
