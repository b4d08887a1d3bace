"""divpipe.fanout: bounded pool, per-item errors, shared cool-down, progress."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from divpipe.errors import DatabaseError, FetchError
from divpipe.fanout import CoolDown, FanoutStats, Skip, fanout


class RateLimited(Exception):
    status = 429


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_every_item_gets_an_outcome_with_value_or_reason():
    def work(n: int) -> int:
        if n % 5 == 0:
            raise ValueError(f"bad {n}")
        return n * n

    stats = FanoutStats()
    outcomes = list(fanout(range(1, 21), work, workers=4, stats=stats, tty=False))

    assert sorted(o.item for o in outcomes) == list(range(1, 21))
    by_item = {o.item: o for o in outcomes}
    assert by_item[3].ok and by_item[3].value == 9
    assert not by_item[10].ok and by_item[10].error == "ValueError: bad 10"
    assert (stats.ok, stats.failed, stats.skipped, stats.total) == (16, 4, 0, 20)
    assert stats.finished is not None and stats.per_second > 0


def test_skip_is_counted_apart_from_failures():
    def work(n: int) -> int:
        if n == 2:
            raise Skip("company data fresh")
        return n

    stats = FanoutStats()
    outcomes = {o.item: o for o in fanout([1, 2, 3], work, workers=2, stats=stats, tty=False)}
    assert outcomes[2].skipped and not outcomes[2].ok and outcomes[2].error == "company data fresh"
    assert (stats.ok, stats.failed, stats.skipped) == (2, 0, 1)


def test_input_is_consumed_lazily_so_memory_does_not_grow_with_items():
    pulled = 0
    consumed = 0
    max_ahead = 0

    def items():
        nonlocal pulled
        for i in range(500):
            pulled += 1
            yield i

    for _ in fanout(items(), lambda n: n, workers=3, tty=False):
        consumed += 1
        max_ahead = max(max_ahead, pulled - consumed)
    assert consumed == 500
    # 3 workers, each with one running and two queued items.
    assert max_ahead <= 9


def test_rate_limit_pauses_all_workers_then_retries_the_item():
    tripped = threading.Event()

    class WatchedCoolDown(CoolDown):
        def trip(self) -> float:
            left = super().trip()
            tripped.set()
            return left

    cooldown = WatchedCoolDown(base=0.3)
    starts: dict[str, list[float]] = {}
    lock = threading.Lock()
    trip_end: list[float] = []

    def work(item: str) -> str:
        with lock:
            starts.setdefault(item, []).append(time.monotonic())
        if item == "a" and len(starts["a"]) == 1:
            raise RateLimited("429 Too Many Requests")
        if item == "b":
            # Busy while "a" is refused, so its worker's next wait comes after the trip.
            assert tripped.wait(5)
            trip_end.append(time.monotonic() + cooldown.remaining())
        return item.upper()

    stats = FanoutStats()
    outcomes = {o.item: o for o in fanout(["a", "b", "c", "d", "e"], work, workers=2,
                                          cooldown=cooldown, stats=stats, tty=False)}

    assert all(o.ok for o in outcomes.values())
    assert outcomes["a"].attempts == 2 and outcomes["a"].value == "A"
    assert stats.rate_limited == 1
    deadline = trip_end[0]
    # Every call that began after the refusal waited out the shared pause, on both workers.
    later_calls = [starts["a"][1], starts["c"][0], starts["d"][0], starts["e"][0]]
    assert min(later_calls) >= deadline - 0.01


def test_an_item_that_only_waited_is_left_for_the_next_run_never_failed():
    cooldown = CoolDown(base=0.0)
    stats = FanoutStats()
    outcomes = list(fanout(["x"], lambda s: (_ for _ in ()).throw(RateLimited("slow down")),
                           workers=1, cooldown=cooldown, rate_limit_retries=2, rate_limit_rounds=3,
                           stats=stats, tty=False))
    assert len(outcomes) == 1
    assert outcomes[0].skipped and outcomes[0].waited and not outcomes[0].ok
    assert outcomes[0].error == "rate limited, left for the next run (RateLimited: slow down)"
    # Three rounds of one try and two retries each.
    assert outcomes[0].attempts == 9
    assert cooldown.trips == 6
    assert (stats.failed, stats.skipped, stats.waited) == (0, 1, 1)


def test_an_item_refused_too_long_is_tried_again_after_the_others():
    calls: list[str] = []

    def work(item: str) -> str:
        calls.append(item)
        if item == "a" and calls.count("a") <= 2:
            raise RateLimited("429")
        return item.upper()

    stats = FanoutStats()
    outcomes = {o.item: o for o in fanout(["a", "b", "c"], work, workers=1, cooldown=CoolDown(base=0.0),
                                          rate_limit_retries=1, stats=stats, tty=False)}
    assert all(o.ok for o in outcomes.values())
    assert outcomes["a"].attempts == 3 and outcomes["a"].value == "A"
    # Its first round used its retry; the next round came after the other items.
    assert calls == ["a", "a", "b", "c", "a"]
    assert (stats.ok, stats.failed, stats.skipped) == (3, 0, 0)


def test_custom_rate_limit_predicate():
    calls = []

    def work(item: str) -> str:
        calls.append(item)
        if len(calls) == 1:
            raise KeyError("throttled")
        return item

    outcomes = list(fanout(["x"], work, workers=1, cooldown=CoolDown(base=0.0),
                           is_rate_limit=lambda e: isinstance(e, KeyError), tty=False))
    assert outcomes[0].ok and calls == ["x", "x"]


def test_fatal_errors_propagate_and_stop_the_pool():
    started = []

    def work(n: int) -> int:
        started.append(n)
        if n == 3:
            raise DatabaseError("connection lost")
        return n

    with pytest.raises(DatabaseError, match="connection lost"):
        for _ in fanout(range(1000), work, workers=2, fatal=(DatabaseError,), tty=False):
            pass
    assert len(started) < 50


def test_worker_threads_are_named_after_the_job():
    names = set()

    def work(n: int) -> int:
        names.add(threading.current_thread().name)
        return n

    list(fanout(range(10), work, workers=2, name="yahoo", tty=False))
    assert names and all(n.startswith("yahoo_") for n in names)


def test_progress_line_every_n_items_in_logs(caplog):
    caplog.set_level(logging.INFO, logger="divpipe.fanout")
    list(fanout(range(25), lambda n: n, workers=2, name="update", progress_every=10, tty=False))
    lines = [r.getMessage() for r in caplog.records if "done (ok" in r.getMessage()]
    # 10, 20 and the final 25.
    assert len(lines) == 3
    assert lines[0].startswith("update: 10/25 done (ok 10, failed 0, skipped 0)")
    assert lines[-1].startswith("update: 25/25 done")


def test_cooldown_backoff_doubles_ignores_same_wave_and_resets_after_success():
    clock = FakeClock()
    cd = CoolDown(base=1.0, maximum=5.0, clock=clock, sleep=clock.sleep)
    assert cd.trip() == 1.0
    clock.now += 0.5
    # Same wave: refusals of requests already in flight do not lengthen the pause.
    assert cd.trip() == pytest.approx(0.5)
    cd.wait()
    assert clock.slept == [pytest.approx(0.5)]
    assert cd.trip() == 2.0
    cd.wait()
    assert cd.trip() == 4.0
    cd.wait()
    assert cd.trip() == 5.0  # capped
    cd.wait()
    cd.success()
    assert cd.trip() == 1.0
    assert cd.trips == 6


def test_the_pause_doubles_only_while_nothing_goes_through():
    # A refusal comes back faster than a whole fetch: by the time a fetch succeeds, another
    # worker's refusal may have started a new pause. The host accepted that fetch, so the
    # next pause starts from base instead of doubling up to minutes.
    clock = FakeClock()
    cd = CoolDown(base=1.0, maximum=120.0, clock=clock, sleep=clock.sleep)
    for expected in (1.0, 2.0, 4.0):
        assert cd.trip() == expected
        cd.wait()
    assert cd.trip() == 8.0  # a quick refusal of one worker
    clock.now += 1.0
    cd.success()  # while another worker's fetch, begun before it, went through
    cd.wait()
    assert cd.trip() == 1.0
    cd.wait()
    assert cd.trip() == 2.0  # and nothing went through since


def test_progress_bar_on_a_terminal_instead_of_log_lines(capsys, caplog):
    caplog.set_level(logging.INFO, logger="divpipe.fanout")
    list(fanout(range(7), lambda n: n, workers=2, name="update", progress_every=2, tty=True))
    err = capsys.readouterr().err
    assert "update" in err and "7/7" in err
    assert not [r for r in caplog.records if "done (ok" in r.getMessage()]


def test_a_fetch_error_is_never_retried_here_net_already_gave_up():
    calls = []

    def work(item: str) -> str:
        calls.append(item)
        raise FetchError("api.nasdaq.com", "/api/calendar/dividends", 429)

    cooldown = CoolDown(base=0.0)
    [outcome] = list(fanout(["x"], work, workers=1, cooldown=cooldown, tty=False))
    assert calls == ["x"] and outcome.attempts == 1 and cooldown.trips == 0
    assert outcome.error == "FetchError: giving up on api.nasdaq.com/api/calendar/dividends: last status 429"


def test_a_curl_error_is_one_short_line():
    from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError

    from divpipe.fanout import describe

    err = CurlConnectionError(
        "Failed to perform, curl: (7) Failed to connect to query2.finance.yahoo.com port 443 after 3 ms: "
        "Could not connect to server. See https://curl.se/libcurl/c/libcurl-errors.html first for more details.")
    assert describe(err) == ("ConnectionError: Failed to connect to query2.finance.yahoo.com port 443 after 3 ms: "
                             "Could not connect to server")
    assert describe(ValueError("bad\n  value")) == "ValueError: bad value"
