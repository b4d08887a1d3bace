"""Per-host rate limits shared by every thread and every process of a run.

A semaphore only caps how many requests are in flight; a site that counts
requests per second does not care how many are in flight. Each host's limit
here hands out start times: `rate` per second on average, at most `burst` at
once, whatever the number of threads, processes or cluster workers asking.

The algorithm is GCRA (the token bucket written as one "theoretical arrival
time"), kept once, in this module, as pure functions of a small `State`.
Where that state lives is the store's business (divpipe.net.ratestore):

- PostgreSQL (table `rate_limits`, one row per host), the default as soon as
  the process has connected to the pipeline's database: every task already
  shares it, embedded or not;
- Redis, when RATE_LIMIT_REDIS_URL names one;
- this process's memory, for code paths with no database (`--dry-run`
  scrapers, tests of the HTTP layer), and as the fallback when the shared
  store cannot be reached (one ⚠️ line says so).

A caller reserves its slot in one atomic read-modify-write of the store and
sleeps outside it, so waiting callers queue in order instead of racing.

`cooldown()` pauses a host for everyone (a 429 seen by one process pauses
all): callers already asleep on a reservation notice the pause when they wake
(the state's generation changed) and queue again behind it, so nothing is
sent during a cool-down and no burst follows it.

Persistent 429s lower the rate (AIMD): a 429 that starts a new pause within
`REPEAT_WINDOW` seconds of the previous one multiplies the rate in force by
`DECREASE` (never below `MIN_FRACTION` of the configured rate); then every
RATE_LIMIT_RECOVER_SECONDS without a new decrease gives back `RECOVER_STEP`
of the configured rate, up to the configured rate. One line is logged each
time a process sees the rate in force change.

Why not pyrate-limiter (v4 has Postgres and Redis buckets): its Postgres
bucket needs psycopg 3 and psycopg_pool (we use psycopg2), keeps one row per
request and takes an EXCLUSIVE table lock per acquire (failing, not waiting,
under contention), and reads the clock in another round trip; none of its
buckets has a pause that reaches callers already waiting, in this process or
others, nor an adaptive rate. Both would have to be built beside it, so it
was removed from the requirements.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from divpipe.config import get_settings
from divpipe.net import hosts, requestlog
from divpipe.sources import registry

log = logging.getLogger(__name__)

# A 429 that starts a new pause within this many seconds of the previous
# one means the pause alone did not help: the rate itself is too high.
REPEAT_WINDOW = 60.0
# Multiplicative decrease on a repeated 429, and the floor it stops at.
DECREASE = 0.5
MIN_FRACTION = 1 / 16
# Additive increase: this share of the configured rate per recovery period.
RECOVER_STEP = 0.1


@dataclass(frozen=True)
class State:
    """What every process shares about one host. Times are Unix seconds (time.time())."""

    tat: float = 0.0  # GCRA theoretical arrival time of the next request
    paused_until: float = 0.0
    generation: int = 0  # bumped by every cool-down: sleepers re-queue
    lowered_rate: float = 0.0  # rate right after the last decrease; 0: the configured rate
    lowered_at: float = 0.0  # when the recovery from `lowered_rate` starts
    last_refusal: float = 0.0  # when the last 429 wave started


@dataclass(frozen=True)
class Policy:
    rate: float
    burst: int
    recover_seconds: float = 30.0

    def __post_init__(self):
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")


def rate_in_force(state: State, policy: Policy, now: float) -> float:
    """The configured rate, or the lowered one plus what recovery has given back since."""
    if state.lowered_rate <= 0:
        return policy.rate
    steps = math.floor(max(0.0, now - state.lowered_at) / policy.recover_seconds)
    return min(policy.rate, state.lowered_rate + steps * RECOVER_STEP * policy.rate)


@dataclass(frozen=True)
class Reservation:
    wait: float  # seconds until the slot
    generation: int
    rate: float  # the rate in force


def reserve(state: State, policy: Policy, now: float) -> tuple[State, Reservation]:
    """Take the next slot: GCRA with `burst` slots of tolerance, after any pause."""
    rate = rate_in_force(state, policy, now)
    interval = 1.0 / rate
    tolerance = (policy.burst - 1) * interval
    start = max(now, state.paused_until, state.tat - tolerance)
    new = replace(state, tat=max(state.tat, start) + interval)
    if state.lowered_rate and rate >= policy.rate:
        new = replace(new, lowered_rate=0.0, lowered_at=0.0)  # fully recovered
    return new, Reservation(start - now, state.generation, rate)


@dataclass(frozen=True)
class Pause:
    remaining: float  # seconds left in the pause in force
    rate: float  # the rate in force after it
    lowered: bool  # this call lowered the rate


def pause(state: State, policy: Policy, now: float, seconds: float) -> tuple[State, Pause]:
    """Send nothing for `seconds`; a repeated 429 also lowers the rate. Then restart empty."""
    until = now + max(0.0, seconds)
    rate = rate_in_force(state, policy, now)
    if until <= state.paused_until:  # a 429 of the wave already being waited out
        return state, Pause(state.paused_until - now, rate, False)
    lowered = False
    new = state
    if now >= state.paused_until:  # a new wave of 429s
        if state.last_refusal and now - state.last_refusal <= REPEAT_WINDOW:
            lower = max(policy.rate * MIN_FRACTION, rate * DECREASE)
            if lower < rate:
                rate, lowered = lower, True
                # Recovery counts from the end of the pause, not from its start.
                new = replace(new, lowered_rate=lower, lowered_at=until)
        new = replace(new, last_refusal=now)
    interval = 1.0 / rate
    # An empty bucket at `until`: the first request goes one interval later.
    tolerance = (policy.burst - 1) * interval
    new = replace(new, paused_until=until, generation=state.generation + 1,
                  tat=until + interval + tolerance)
    return new, Pause(until - now, rate, lowered)


class HostLimiter:
    """One host's limit, as seen from this process. Get it with `bucket_for(host)`."""

    def __init__(self, key: str, policy: Policy, store=None, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        from divpipe.net.ratestore import ProcessStore

        self.key, self.policy = key, policy
        self.store = store if store is not None else ProcessStore()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._logged_rate = policy.rate

    @property
    def rate(self) -> float:
        """The rate in force now."""
        return rate_in_force(self._read(), self.policy, self._clock())

    def acquire(self) -> float:
        """Block until this caller may send one request. Returns the seconds waited."""
        waited = 0.0
        while True:
            slot = self._update(lambda s, now: reserve(s, self.policy, now))
            self._note_rate(slot.rate)
            if slot.wait <= 0:
                break
            self._sleep(slot.wait)
            waited += slot.wait
            # A cool-down that began while we slept voids our slot.
            if self._read().generation == slot.generation:
                break
        requestlog.count(self.key, self._clock())
        return waited

    def cooldown(self, seconds: float) -> float:
        """Send nothing to this host for `seconds`, from every thread and process.

        Returns the seconds left in the pause in force (it may already run longer).
        """
        result = self._update(lambda s, now: pause(s, self.policy, now, seconds))
        if result.lowered:
            log.warning("⚠️ %s: repeated 429s, rate lowered to %s/s (configured %s/s)", self.key,
                        _fmt(result.rate), _fmt(self.policy.rate))
            with self._lock:
                self._logged_rate = result.rate
        else:
            self._note_rate(result.rate)
        return result.remaining

    def paused_for(self) -> float:
        """Seconds left in the current cool-down (0 when none)."""
        return max(0.0, self._read().paused_until - self._clock())

    # -- internals -------------------------------------------------------

    def _update(self, fn):
        def step(state: State):
            return fn(state, self._clock())

        store = self.store
        try:
            return store.update(self.key, step)
        except store.errors as err:
            self._fall_back(store, err)
            return self.store.update(self.key, step)

    def _read(self) -> State:
        store = self.store
        try:
            return store.read(self.key)
        except store.errors as err:
            self._fall_back(store, err)
            return self.store.read(self.key)

    def _fall_back(self, failed, err: BaseException) -> None:
        from divpipe.net.ratestore import ProcessStore, describe_error

        with self._lock:
            if self.store is not failed:  # another thread already fell back
                return
            log.warning("⚠️ %s: rate-limit state in %s unreachable (%s); limiting in this process only",
                        self.key, failed.name, describe_error(err))
            self.store = ProcessStore()

    def _note_rate(self, rate: float) -> None:
        with self._lock:
            if math.isclose(rate, self._logged_rate, rel_tol=1e-6):
                return
            self._logged_rate = rate
        log.info("%s: rate in force %s/s (configured %s/s)", self.key, _fmt(rate), _fmt(self.policy.rate))


def _fmt(rate: float) -> str:
    return f"{rate:.3g}"


_registry_lock = threading.Lock()
_buckets: dict[tuple[int, str], HostLimiter] = {}  # (id of the store, host key)
_store = None  # set by configure(); None: decide from the settings and the database


def configure(store) -> None:
    """Keep every host's state in `store` (a divpipe.net.ratestore store) in this process.

    For a process that should share limits without connecting to the
    pipeline's database itself, a cluster worker say:
    `configure(ratestore.from_settings(database_url=...))`. `None` goes back
    to choosing automatically.
    """
    global _store
    with _registry_lock:
        _store = store
        _buckets.clear()


def bucket_for(host: str) -> HostLimiter:
    """This process's view of the shared limit for `host` (all Yahoo hosts share one)."""
    from divpipe.net import ratestore

    key = hosts.limiter_key(host)
    with _registry_lock:
        store = _store if _store is not None else ratestore.default_store()
        bucket = _buckets.get((id(store), key))
        if bucket is None:
            settings = get_settings()
            source = hosts.source_for_host(host)
            # Unknown hosts get the strictest budget we configure for a site.
            rate = settings.rate_limit(source) if source else settings.rate_limit("nyse")
            spec = registry.for_host(host)
            burst = spec.burst if spec and spec.burst else settings.rate_limit_burst
            policy = Policy(rate, burst, settings.rate_limit_recover_seconds)
            bucket = _buckets[(id(store), key)] = HostLimiter(key, policy, store)
        return bucket


def reset() -> None:
    """Forget every limiter and close the shared stores (tests change the limits between cases)."""
    from divpipe.net import ratestore

    global _store
    with _registry_lock:
        _buckets.clear()
        _store = None
        ratestore.close_all()
