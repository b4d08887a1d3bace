"""Browser-like request headers per source.

Several of these sites treat clients without browser headers badly: nasdaq.com
is known to hang (not refuse) when User-Agent, Origin and Referer are missing.
"""

from __future__ import annotations

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_JSON = "application/json, text/plain, */*"

_COMMON = {"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9"}

_PER_SOURCE: dict[str, dict[str, str]] = {
    "yahoo": {"Accept": _JSON},
    "nasdaq": {"Accept": _JSON, "Origin": "https://www.nasdaq.com", "Referer": "https://www.nasdaq.com/"},
    "nasdaqtrader": {"Accept": "text/plain,*/*;q=0.8"},
    "cboe": {"Accept": _JSON, "Referer": "https://www.cboe.com/us/equities/notices/dividends/"},
    "yieldmax": {"Accept": _HTML, "Referer": "https://yieldmaxetfs.com/"},
    "nyse": {"Accept": _HTML, "Referer": "https://www.nyse.com/"},
    "snowball": {
        "Accept": _JSON,
        "Origin": "https://snowball-analytics.com",
        "Referer": "https://snowball-analytics.com/calendars/dividend-calendar",
    },
}


def headers_for(source: str) -> dict[str, str]:
    """The default headers sent with every request to `source`."""
    return {**_COMMON, **_PER_SOURCE.get(source, {"Accept": _HTML})}
