"""Process-wide, thread-safe counts of HTTP traffic per host.

Jobs print these in their summaries, so a run says how many requests it made
and how many were retried or throttled.
"""

from __future__ import annotations

import threading
from collections import defaultdict

_KINDS = ("requests", "retries", "failures", "throttled_ms")

_lock = threading.Lock()
_counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_KINDS, 0))


def record(host: str, kind: str = "requests", amount: int = 1) -> None:
    with _lock:
        _counts[host.lower()][kind] += amount


def request_count(host: str | None = None) -> int:
    """Requests sent in this process (every attempt counts), to `host` or to all hosts."""
    with _lock:
        if host is not None:
            return _counts[host.lower()]["requests"] if host.lower() in _counts else 0
        return sum(c["requests"] for c in _counts.values())


def stats() -> dict[str, dict[str, int]]:
    """A snapshot: {host: {"requests", "retries", "failures", "throttled_ms"}}."""
    with _lock:
        return {host: dict(c) for host, c in sorted(_counts.items())}


def reset() -> None:
    with _lock:
        _counts.clear()
