"""Per-host token buckets: a real requests-per-second limit shared by all threads.

A semaphore only caps how many requests are in flight; a site that counts
requests per second does not care how many are in flight. Each bucket here
hands out start times: `rate` per second on average, at most `burst` at once.

A thread reserves its slot under the lock and sleeps outside it, so waiting
threads queue in order instead of racing. `cooldown()` pauses a bucket for
everyone: threads already asleep on a reservation notice the pause when they
wake (the generation number changed) and queue again behind it, so nothing is
sent during a cool-down and no burst follows it.

We keep this small class instead of pyrate-limiter because the cool-down has
to reach threads that are already waiting, which a generic limiter cannot do.
"""

from __future__ import annotations

import threading
import time

from divpipe.config import get_settings
from divpipe.net import hosts


class TokenBucket:
    def __init__(self, rate: float, burst: int, *, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()
        self._paused_until = 0.0
        self._generation = 0

    def acquire(self) -> float:
        """Block until this thread may send one request. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                if now < self._paused_until:
                    wait, generation = self._paused_until - now, None
                else:
                    self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
                    self._last = now
                    self._tokens -= 1.0
                    wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
                    generation = self._generation
            if wait > 0:
                self._sleep(wait)
                waited += wait
            if generation is None:
                continue
            with self._lock:
                if generation == self._generation:
                    return waited

    def cooldown(self, seconds: float) -> None:
        """Send nothing for `seconds`, from every thread; then restart with an empty bucket."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until <= self._paused_until:
                return
            self._paused_until = until
            self._generation += 1
            self._tokens = 0.0
            self._last = until

    def paused_for(self) -> float:
        """Seconds left in the current cool-down (0 when none)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


_registry_lock = threading.Lock()
_buckets: dict[str, TokenBucket] = {}


def bucket_for(host: str) -> TokenBucket:
    """The process-wide bucket for `host` (all Yahoo hosts share one)."""
    key = hosts.limiter_key(host)
    with _registry_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            settings = get_settings()
            source = hosts.source_for_host(host)
            # Unknown hosts get the strictest budget we configure for a site.
            rate = settings.rate_limit(source) if source else settings.rate_limit("nyse")
            bucket = _buckets[key] = TokenBucket(rate, settings.rate_limit_burst)
        return bucket


def reset() -> None:
    """Forget every bucket (tests change the limits between cases)."""
    with _registry_lock:
        _buckets.clear()
