"""The per-host limit: GCRA slots, shared cool-downs and the adaptive rate, on every store.

Every case runs on a fake clock (sleeping advances it), so the expected
waits are exact, and on each store: this process, PostgreSQL and Redis. Two
`HostLimiter`s on one shared store stand for two processes; the tests with
real OS processes against the simulator are in test_net_ratelimit_processes.py.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from divpipe import net
from divpipe.net import ratelimit, ratestore
from divpipe.net.ratelimit import HostLimiter, Policy

from .plugins.redis import REDIS_URL

CALENDAR = "https://api.nasdaq.com/api/calendar/dividends"


class FakeClock:
    def __init__(self, start: float = 1_000_000.0):
        self.now = start
        self.lock = threading.Lock()
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


@pytest.fixture(params=["process", "postgres", "redis"])
def store(request):
    if request.param == "process":
        made = ratestore.ProcessStore()
    elif request.param == "postgres":
        made = ratestore.PostgresStore(request.getfixturevalue("make_db")())
    else:
        made = ratestore.RedisStore(REDIS_URL, request.getfixturevalue("redis_prefix"))
    yield made
    made.close()


def limiter(store, clock, rate=10.0, burst=3, recover=30.0, key="api.nasdaq.com"):
    return HostLimiter(key, Policy(rate, burst, recover), store, clock=clock.time, sleep=clock.sleep)


def test_the_burst_goes_at_once_then_one_slot_per_interval(store):
    clock = FakeClock()
    bucket = limiter(store, clock, rate=10, burst=3)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.1, 0.1])


def test_two_processes_share_one_budget(store):
    clock = FakeClock()
    a, b = limiter(store, clock), limiter(store, clock)
    waits = [(a if i % 2 else b).acquire() for i in range(6)]
    # The same slots as one caller: a per-process budget would let 6 go at once.
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.1, 0.1])


def test_concurrent_callers_never_get_the_same_slot(store):
    # The clock stands still, so every reservation must come after the last:
    # a lost update in the store would hand two callers one slot.
    clock = FakeClock()
    starts: list[float] = []
    lock = threading.Lock()

    def caller():
        # Each caller with its own connection, as separate processes would be.
        own = (store if isinstance(store, ratestore.ProcessStore)
               else ratestore.PostgresStore(store._url) if isinstance(store, ratestore.PostgresStore)
               else ratestore.RedisStore(store._url, store._prefix))
        me = HostLimiter("api.nasdaq.com", Policy(10, 2), own, clock=clock.time, sleep=lambda s: None)
        for _ in range(10):
            slot = me._update(lambda s, now: ratelimit.reserve(s, me.policy, now))
            with lock:
                starts.append(round(slot.wait, 6))
        if own is not store:
            own.close()

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(starts) == [0.0, 0.0] + [round(0.1 * i, 6) for i in range(1, 39)]


def test_cooldown_holds_every_caller_then_restarts_without_a_burst(store):
    clock = FakeClock()
    a, b = limiter(store, clock, rate=10, burst=5), limiter(store, clock, rate=10, burst=5)
    assert a.cooldown(30) == pytest.approx(30)
    assert b.paused_for() == pytest.approx(30)
    # After the pause the bucket starts empty: one interval, then one each.
    assert b.acquire() == pytest.approx(30.1)
    assert a.acquire() == pytest.approx(0.1)


def test_a_shorter_cooldown_does_not_cut_a_longer_one(store):
    clock = FakeClock()
    a = limiter(store, clock)
    a.cooldown(30)
    assert a.cooldown(5) == pytest.approx(30)
    assert a.paused_for() == pytest.approx(30)


def test_a_cooldown_reaches_callers_already_waiting_in_other_processes(store):
    clock = FakeClock()
    other = limiter(store, clock, rate=2, burst=1)
    waiting = limiter(store, clock, rate=2, burst=1)
    waiting.acquire()  # the next caller waits 0.5 s

    def sleep_while_the_other_process_sees_a_429(seconds):
        clock.sleep(seconds)
        if len(clock.slept) == 1:
            other.cooldown(10)  # began while `waiting` slept on its reservation

    waiting._sleep = sleep_while_the_other_process_sees_a_429
    waited = waiting.acquire()
    # Its 0.5 s slot was void: it queued again behind the pause, plus one interval.
    assert waited == pytest.approx(0.5 + 10 + 0.5)


def test_repeated_429s_lower_the_rate_and_it_recovers_slowly(store, caplog):
    caplog.set_level(logging.INFO, logger="divpipe.net.ratelimit")
    clock = FakeClock()
    bucket = limiter(store, clock, rate=8, burst=1, recover=30)
    bucket.cooldown(1)
    clock.sleep(2)
    assert bucket.rate == 8  # one wave of 429s: a pause, the rate stays
    bucket.cooldown(1)  # a second wave within a minute: halve
    assert bucket.rate == 4
    assert "repeated 429s, rate lowered to 4/s (configured 8/s)" in caplog.text
    clock.sleep(3)
    bucket.cooldown(1)
    assert bucket.rate == 2
    # Other processes see the lowered rate in their slots.
    other = limiter(store, clock, rate=8, burst=1, recover=30)
    clock.sleep(1.5)  # the pause ends at +1 s, and restarts empty: the first slot is one interval later
    assert other.acquire() == 0
    assert other.acquire() == pytest.approx(0.5)
    assert "rate in force 2/s (configured 8/s)" in caplog.text
    # 10 % of the configured rate back per 30 s without a new decrease, measured from the pause's end.
    clock.now += 29
    assert bucket.rate == pytest.approx(2.8)
    clock.now += 30 * 7
    assert bucket.rate == 8


def test_the_rate_never_falls_below_a_sixteenth(store):
    clock = FakeClock()
    bucket = limiter(store, clock, rate=16, burst=1)
    for _ in range(12):
        bucket.cooldown(1)
        clock.sleep(1.5)
    assert bucket.rate == 1


def test_an_unreachable_store_falls_back_to_this_process_with_one_masked_line(caplog):
    caplog.set_level(logging.WARNING, logger="divpipe.net.ratelimit")
    clock = FakeClock()
    store = ratestore.RedisStore("redis://user:s3cretpw@127.0.0.1:1/0", "divpipe-test:")
    bucket = limiter(store, clock, rate=10, burst=2)
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0, 0, 0.1])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "Redis at 127.0.0.1:1" in lines[0] and "limiting in this process only" in lines[0]
    assert "s3cretpw" not in caplog.text


def test_the_shared_store_is_the_database_this_process_connected_to(db_url, sim):
    from divpipe.db.connect import connect

    net.client("nasdaq").get(CALENDAR, params={"date": sim.universe.today.isoformat()})
    assert isinstance(ratelimit.bucket_for("api.nasdaq.com").store, ratestore.ProcessStore)
    connect().close()
    net.client("nasdaq").get(CALENDAR, params={"date": sim.universe.today.isoformat()})
    assert isinstance(ratelimit.bucket_for("api.nasdaq.com").store, ratestore.PostgresStore)
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT key, tat > 0 FROM rate_limits")
        assert cur.fetchall() == [("api.nasdaq.com", True)]


def test_redis_is_used_when_a_setting_names_it(redis_prefix, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("RATE_LIMIT_REDIS_PREFIX", redis_prefix)
    from divpipe import config

    config.reset_settings()
    net.reset()
    bucket = ratelimit.bucket_for("query1.finance.yahoo.com")
    assert isinstance(bucket.store, ratestore.RedisStore) and bucket.key == "yahoo"
    bucket.cooldown(60)
    import redis

    assert redis.Redis.from_url(REDIS_URL).exists(redis_prefix + "yahoo")
    net.reset()


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


def test_a_redis_password_never_reaches_the_log(redis_prefix, monkeypatch, caplog):
    # The local Redis has no password set and lets the client in anyway.
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("RATE_LIMIT_REDIS_URL", REDIS_URL.replace("redis://", "redis://:Hunter2pw@"))
    monkeypatch.setenv("RATE_LIMIT_REDIS_PREFIX", redis_prefix)
    from divpipe import config

    config.reset_settings()
    net.reset()
    bucket = ratelimit.bucket_for("www.nyse.com")
    for _ in range(3):  # repeated 429s, each after the last pause ended: a lowered rate and its log line
        bucket.cooldown(0.01)
        time.sleep(0.05)
    bucket.acquire()
    assert isinstance(bucket.store, ratestore.RedisStore)
    assert bucket.store.name == "Redis at 127.0.0.1:6379"
    assert "rate lowered" in caplog.text
    assert "Hunter2pw" not in caplog.text
    net.reset()


def test_a_process_of_its_own_joins_the_shared_state_explicitly(make_db):
    # What a cluster worker does: no job connected to the database for it.
    url = make_db()
    try:
        ratelimit.configure(ratestore.from_settings(database_url=url))
        ratelimit.bucket_for("www.cboe.com").cooldown(45)
        other = ratestore.PostgresStore(url)
        assert other.read("www.cboe.com").paused_until > 0
        other.close()
    finally:
        net.reset()
