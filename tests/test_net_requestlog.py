"""Requests per host per second: counted by the limiters, written per process, added up per run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from divpipe.net import requestlog
from divpipe.net.ratelimit import HostLimiter, Policy
from divpipe.net.ratestore import ProcessStore

PROJECT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_each_request_a_limiter_lets_go_is_counted_in_the_second_it_goes(monkeypatch):
    monkeypatch.setattr(requestlog, "_counts", requestlog.Counter())
    clock = Clock(1_000_000.0)
    limiter = HostLimiter("example.org", Policy(2.0, 1, 60.0), ProcessStore(), clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    # 2 per second, the first at once: seconds 0, 0.5, 1.0, 1.5, 2.0
    assert requestlog.snapshot() == {"example.org": {1_000_000: 2, 1_000_001: 2, 1_000_002: 1}}


def test_a_process_writes_its_counts_at_exit_and_the_run_adds_them_up(tmp_path):
    code = ("from divpipe.net import requestlog\n"
            "for s in (100, 100, 101): requestlog.count('yahoo', s)\n"
            "requestlog.count('www.cboe.com', 101.7)\n")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], cwd=PROJECT, check=True, timeout=60,
                       env={**os.environ, requestlog.ENV: str(tmp_path)})
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == 2 and all(n.startswith("requests_") and n.endswith(".json") for n in written)
    (tmp_path / "requests_999.json").write_text("{truncated")  # a process killed mid-write
    merged = requestlog.merge(tmp_path)
    assert merged == {"www.cboe.com": {101: 2}, "yahoo": {100: 4, 101: 2}}
    assert requestlog.per_second_since(merged, 99.5) == {"www.cboe.com": [[2, 2]], "yahoo": [[1, 4], [2, 2]]}


def test_without_a_run_directory_nothing_is_written(tmp_path):
    code = "from divpipe.net import requestlog\nrequestlog.count('yahoo', 1)\n"
    env = {k: v for k, v in os.environ.items() if k != requestlog.ENV}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60,
                   env={**env, "PYTHONPATH": str(PROJECT)})
    assert list(tmp_path.iterdir()) == []
    assert requestlog.merge(tmp_path) == {}
