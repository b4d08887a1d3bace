"""When to try a request again and how long to wait first.

Shared by our own client (divpipe.net.httpclient) and the wrapper around
yfinance's sessions (divpipe.net.yahoo), so a request to any host is retried
the same way: HTTP_RETRIES more attempts after the first, on 429, 5xx,
timeouts and resets, with exponential backoff and jitter, a server's
Retry-After honoured up to a cap.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time

import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Timeouts, resets, refused connections, truncated bodies. curl_cffi's
# exceptions (yfinance's sessions) are OSErrors too.
TRANSIENT_ERRORS = (requests.RequestException, OSError)
# Never sleep longer than this on a server's Retry-After: a nightly job
# would rather give up on one request than stall for an hour.
MAX_RETRY_AFTER = 120.0

_sleep = time.sleep  # tests replace it to see the backoff without waiting
_rng = random.Random()  # noqa: S311 - jitter, not secrets
_rng_lock = threading.Lock()


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (0 = the first)."""
    full = base * (2 ** attempt)
    with _rng_lock:
        # "Equal jitter": at least half the backoff, so retries do slow
        # down, and threads that failed together do not retry together.
        return full / 2 + _rng.uniform(0, full / 2)


def wait_before_retry(attempt: int, base: float, retry_after: float | None = None) -> float:
    """Sleep before the next attempt: the server's Retry-After if it sent one, else the backoff.

    Returns the seconds slept.
    """
    delay = retry_after if retry_after is not None else backoff(attempt, base)
    delay = min(delay, MAX_RETRY_AFTER)
    if delay:
        _sleep(delay)
    return delay
