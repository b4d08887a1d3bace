"""The per-host token bucket is a requests-per-second limit shared by all threads."""

from __future__ import annotations

import threading
import time

from divpipe import net
from divpipe.net.ratelimit import TokenBucket

CALENDAR = "https://api.nasdaq.com/api/calendar/dividends"


def test_twenty_per_second_from_eight_threads_for_five_seconds(make_sim, monkeypatch):
    # The simulator allows more than the client sends: it must never answer 429.
    sim = make_sim(rate_limit=30, client_rate=None)
    monkeypatch.setenv("NASDAQ_RATE_LIMIT", "20")
    monkeypatch.setenv("RATE_LIMIT_BURST", "3")
    from divpipe import config

    config.reset_settings()
    net.reset()
    http = net.client("nasdaq")
    http.get(CALENDAR, params={"date": sim.universe.today.isoformat()})  # warm the connection pool
    net.reset()
    sim.reset_stats()
    http = net.client("nasdaq")

    start = time.monotonic()
    deadline = start + 5.0

    def worker():
        while time.monotonic() < deadline:
            http.get(CALENDAR, params={"date": sim.universe.today.isoformat()})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    arrived = [t for t in sim.arrivals("api.nasdaq.com") if start <= t < deadline]
    assert 95 + 3 <= len(arrived) <= 100 + 3
    assert "429" not in sim.stats()["faults"]


def test_faster_than_the_simulator_allows_gets_429_and_recovers(make_sim, monkeypatch):
    sim = make_sim(rate_limit=5, client_rate=None)
    monkeypatch.setenv("NYSE_RATE_LIMIT", "50")
    monkeypatch.setenv("RATE_LIMIT_BURST", "10")
    from divpipe import config

    config.reset_settings()
    net.reset()
    http = net.client("nyse")
    for _ in range(12):
        assert http.get("https://www.nyse.com/ex-date-dividends").status == 200
    assert sim.stats()["faults"]["429"] >= 1
    assert net.stats()["www.nyse.com"]["retries"] >= 1


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def time(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


def test_bucket_allows_the_burst_then_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, 3, clock=clock.time, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(abs(w - 0.1) < 1e-9 for w in waits[3:])


def test_cooldown_holds_every_caller_then_restarts_without_a_burst():
    clock = FakeClock()
    bucket = TokenBucket(10, 5, clock=clock.time, sleep=clock.sleep)
    bucket.cooldown(30)
    assert bucket.paused_for() == 30
    first = bucket.acquire()
    assert first >= 30
    # After the pause the bucket starts empty: the next caller waits a full slot.
    assert abs(bucket.acquire() - 0.1) < 1e-9


def test_a_cooldown_reaches_threads_already_waiting():
    bucket = TokenBucket(2, 1)
    bucket.acquire()  # empty the bucket: the next caller waits 0.5 s
    done = []
    t = threading.Thread(target=lambda: done.append(bucket.acquire()))
    t.start()
    time.sleep(0.1)
    bucket.cooldown(1.0)  # starts while the thread sleeps on its reservation
    t.join()
    assert done[0] >= 1.0
