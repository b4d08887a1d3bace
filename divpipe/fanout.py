"""Bounded concurrent map over symbols: workers, progress, per-item errors, statistics.

`fanout(items, fn, workers=N)` calls `fn(item)` on a pool of N threads and
yields one `Outcome` per item as soon as it is done (completion order, not
input order). Only a few items per worker are in flight at any time, so a
caller that consumes the outcomes as they arrive holds memory independent of
the number of items.

Rate limits: when `fn` raises an error that `is_rate_limit` recognises
(yfinance's YFRateLimitError, with the Yahoo jobs' predicate), the shared
`CoolDown` is tripped and EVERY worker waits before its next call, not only the
one that was refused; the item is then retried. Backoff doubles while the source
keeps refusing and resets after a success. An item still refused after
`rate_limit_retries` goes to the back of the queue and is tried again after
the others, up to `rate_limit_rounds` rounds: a source that is only slow
tonight costs time, not data. An item that never got through is an Outcome
with `waited` set, counted as skipped ("left for the next run"), never as
failed: it only waited. A FetchError is never retried here: it means
divpipe.net already retried (and cooled down on 429s) and gave up.

A per-item failure never stops the run: it becomes an `Outcome` with the
error's reason. Errors of the `fatal` types (a database error, say) are
re-raised in the consuming thread instead, and the pool is shut down.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from divpipe.errors import FetchError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Items queued per worker beyond the one it runs: keeps workers busy without
# materialising the whole input.
_QUEUE_PER_WORKER = 2


class Skip(Exception):
    """Raised by `fn` to say "nothing to do for this item" (counted as skipped)."""


class CoolDown:
    """A pause shared by all workers of a source after it refused a request.

    `trip()` starts (or extends) the pause; `wait()` blocks until it is over.
    Refusals that arrive while a pause is already running belong to the same
    wave of in-flight requests and do not make the next pause longer. The
    pause doubles only while nothing goes through: one item that succeeded
    since the last pause began shows the host still accepts requests, and the
    next pause starts from `base` again. (A refusal comes back faster than a
    whole fetch, so under a steady share of 429s a rule that counted only
    successes outside a pause doubled the pauses up to minutes.) Lowering the
    rate is the shared limiter's job, not this one's.
    """

    def __init__(
        self,
        base: float = 1.0,
        maximum: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base, self.maximum = base, maximum
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._until = 0.0
        self._went_through = False  # an item succeeded since the last pause began
        self._strikes = 0
        self.trips = 0

    def trip(self) -> float:
        """Pause every worker; return the seconds left in the pause."""
        with self._lock:
            now = self._clock()
            self.trips += 1
            if now >= self._until:
                self._strikes = 1 if self._went_through else self._strikes + 1
                self._went_through = False
                delay = min(self.maximum, self.base * 2 ** (self._strikes - 1))
                self._until = now + delay
            return self._until - now

    def success(self) -> None:
        """An item went through: the next pause starts again from `base`."""
        with self._lock:
            self._went_through = True

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self) -> None:
        # A loop, because another worker may extend the pause while we sleep.
        while (left := self.remaining()) > 0:
            self._sleep(left)


@dataclass
class Outcome(Generic[T, R]):
    """What happened to one item: its value, or why it failed or was skipped."""

    item: T
    value: R | None = None
    error: str | None = None
    exception: BaseException | None = None
    skipped: bool = False
    attempts: int = 1
    # Only ever refused with a rate limit: skipped, left for the next run, not failed.
    waited: bool = False
    # Internal: refused in this round, to be tried again after the other items.
    _deferred: bool = field(default=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped


@dataclass
class FanoutStats:
    """Counts kept by the consuming thread (so no locking is needed)."""

    total: int | None = None
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    rate_limited: int = 0
    waited: int = 0  # of the skipped: never got past the rate limit
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.skipped

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def per_second(self) -> float:
        return self.done / self.elapsed

    def count(self, outcome: Outcome[Any, Any]) -> None:
        if outcome.skipped:
            self.skipped += 1
            self.waited += outcome.waited
        elif outcome.error is not None:
            self.failed += 1
        else:
            self.ok += 1


class Progress:
    """A tqdm bar on a terminal; otherwise one log line every `every` items."""

    def __init__(self, stats: FanoutStats, label: str, every: int = 100, *, tty: bool | None = None):
        self.stats, self.label, self.every = stats, label, max(1, every)
        self._bar = None
        if tty if tty is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=stats.total, desc=label, unit="sym", file=sys.stderr,
                             dynamic_ncols=True)

    def advance(self) -> None:
        s = self.stats
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(ok=s.ok, failed=s.failed, skipped=s.skipped, refresh=False)
        elif s.done % self.every == 0 or (s.total is not None and s.done == s.total):
            log.info("%s", self.line())

    def line(self) -> str:
        s = self.stats
        of = f"/{s.total}" if s.total is not None else ""
        eta = ""
        if s.total and s.done:
            eta = f", ETA {max(0.0, (s.total - s.done) / s.per_second):.0f}s"
        return (f"{self.label}: {s.done}{of} done (ok {s.ok}, failed {s.failed}, skipped {s.skipped}), "
                f"{s.per_second:.1f}/s{eta}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _refused_with_429(exc: BaseException) -> bool:
    # A FetchError carries the 429 that made net give up after its own retries
    # and cool-downs: another round of them here would only hammer the host.
    return getattr(exc, "status", None) == 429 and not isinstance(exc, FetchError)


# curl_cffi (yfinance's HTTP client) wraps libcurl's message in a paragraph:
# "Failed to perform, curl: (7) <what happened>. See https://curl.se/... for more details."
_CURL_NOISE = re.compile(r"^Failed to perform, curl: \(\d+\) |\.? See https://curl\.se/\S* first for more details\.?$")


def describe(exc: BaseException) -> str:
    """A one-line reason for a log line or the exclusion table."""
    text = _CURL_NOISE.sub("", " ".join(str(exc).split()))
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def fanout(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int,
    name: str = "worker",
    total: int | None = None,
    stats: FanoutStats | None = None,
    cooldown: CoolDown | None = None,
    is_rate_limit: Callable[[BaseException], bool] = _refused_with_429,
    rate_limit_retries: int = 6,
    rate_limit_rounds: int = 3,
    fatal: tuple[type[BaseException], ...] = (),
    progress_every: int = 100,
    tty: bool | None = None,
) -> Iterator[Outcome[T, R]]:
    """Yield an Outcome per item, as each completes; see the module docstring.

    Threads are named `{name}_0`, `{name}_1`, ... so log lines show which
    worker wrote them. `stats` (created if not given) is updated before each
    outcome is yielded; `stats.finished` is set when the iteration ends.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    stats = stats if stats is not None else FanoutStats()
    if stats.total is None:
        stats.total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    cooldown = cooldown if cooldown is not None else CoolDown()
    trips_before = cooldown.trips
    progress = Progress(stats, name, progress_every, tty=tty)

    def call(item: T, round_no: int, attempts_before: int) -> Outcome[T, R]:
        for attempt in itertools.count(attempts_before + 1):
            cooldown.wait()
            try:
                value = fn(item)
            except Skip as why:
                return Outcome(item, skipped=True, error=str(why) or None, attempts=attempt)
            except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the others
                if is_rate_limit(exc):
                    if attempt - attempts_before > rate_limit_retries:
                        if round_no < rate_limit_rounds:
                            log.info("%s: still rate limited; tried again after the other items", item)
                            return Outcome(item, attempts=attempt, _deferred=True)
                        log.warning("⚠️ %s: still rate limited after %d tries; left for the next run",
                                    item, attempt)
                        return Outcome(item, skipped=True, waited=True, attempts=attempt,
                                       error=f"rate limited, left for the next run ({describe(exc)})")
                    pause = cooldown.trip()
                    log.warning("⚠️ %s: rate limited (%s); all workers pause %.1fs",
                                item, describe(exc), pause)
                    continue
                return Outcome(item, error=describe(exc), exception=exc, attempts=attempt)
            cooldown.success()
            return Outcome(item, value=value, attempts=attempt)
        raise AssertionError("unreachable")

    source = iter(items)
    # Items refused in a round, with their round and attempts so far: tried
    # again once the input is used up.
    deferred: list[tuple[T, int, int]] = []
    pending: dict[Future[Outcome[T, R]], int] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        capacity = workers * (1 + _QUEUE_PER_WORKER)
        exhausted = False

        def refill() -> None:
            nonlocal exhausted
            if not exhausted:
                for item in itertools.islice(source, capacity - len(pending)):
                    pending[pool.submit(call, item, 1, 0)] = 1
                exhausted = len(pending) < capacity
            # Refused items come back only after every other item was tried.
            while exhausted and deferred and len(pending) < capacity:
                item, round_no, attempts = deferred.pop(0)
                pending[pool.submit(call, item, round_no, attempts)] = round_no

        refill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                round_no = pending.pop(future)
                outcome = future.result()
                if outcome.exception is not None and isinstance(outcome.exception, fatal):
                    raise outcome.exception
                if outcome._deferred:
                    deferred.append((outcome.item, round_no + 1, outcome.attempts))
                    continue
                stats.count(outcome)
                stats.rate_limited = cooldown.trips - trips_before
                progress.advance()
                yield outcome
            refill()
    finally:
        stats.finished = time.monotonic()
        stats.rate_limited = cooldown.trips - trips_before
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
