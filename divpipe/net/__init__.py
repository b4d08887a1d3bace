"""The one HTTP layer: sessions, timeouts, retries, rate limits, size caps, simulator redirect.

Sources call `client(source).get(url, params=...)`; yfinance is made to go
through the same limits by `divpipe.net.yahoo.prepare_yfinance()`.
"""

from __future__ import annotations

from divpipe.net import counters, ratelimit
from divpipe.net.httpclient import HttpClient, Response, client, reset_clients

request_count = counters.request_count
stats = counters.stats

__all__ = ["HttpClient", "Response", "client", "request_count", "reset", "stats"]


def reset() -> None:
    """Forget clients, rate-limit buckets and counters (tests; settings changed)."""
    reset_clients()
    ratelimit.reset()
    counters.reset()
