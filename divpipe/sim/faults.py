"""What goes wrong, and when: seeded random faults, scripted faults, per-host rate limits."""

from __future__ import annotations

import random
import threading
import time
from collections import deque

# 429 is also what a host answers when a client exceeds its rate limit.
FAULT_KINDS = ("500", "reset", "truncated", "malformed", "slow", "429")
RANDOM_KINDS = ("500", "reset", "truncated", "malformed", "slow")


class FaultPlan:
    """Decides per request whether to misbehave.

    Random faults come from one seeded generator at `rate` per request; the
    rate (and the mix) is reproducible, the order across threads is not.
    Scripted faults (`inject`) are served first, in order, to the next
    matching requests: that is how tests make a fault happen exactly once.
    Broken pages (`break_pages`) fail every time they are asked for: a page
    mid-redesign, a notice with a malformed table.
    """

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds: tuple[str, ...] = RANDOM_KINDS):
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be within 0..1")
        self.rate = rate
        self.kinds = tuple(kinds)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._scripted: deque[tuple[str, str | None, str | None]] = deque()
        self._broken: list[tuple[str, str | None, str | None, str | None]] = []

    def inject(self, kinds, host: str | None = None, path_prefix: str | None = None) -> None:
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._scripted.extend((k, host, path_prefix) for k in kinds)

    def break_pages(self, kind: str, host: str | None = None, path_prefix: str | None = None,
                    query: str | None = None) -> None:
        """Serve `kind` to EVERY request matching host, path prefix and query substring."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._broken.append((kind, host, path_prefix, query))

    def pick(self, host: str, path: str, query: str = "") -> str | None:
        with self._lock:
            for kind, h, prefix, part in self._broken:
                if ((h is None or h == host) and (prefix is None or path.startswith(prefix))
                        and (part is None or part in query)):
                    return kind
            for i, (kind, h, prefix) in enumerate(self._scripted):
                if (h is None or h == host) and (prefix is None or path.startswith(prefix)):
                    del self._scripted[i]
                    return kind
            if self.rate and self._rng.random() < self.rate:
                return self._rng.choice(self.kinds)
        return None


class HostRateLimit:
    """A non-blocking token bucket per host: over the limit means 429."""

    def __init__(self, rate: float, burst: float | None = None):
        if rate <= 0:
            raise ValueError("rate limit must be > 0")
        self.rate = float(rate)
        # One second's worth of burst: a polite client (rate below ours, a
        # small burst of its own) never sees a 429, a fast one soon does.
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, host: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(host, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._state[host] = (tokens, now)
                return False
            self._state[host] = (tokens - 1.0, now)
            return True
