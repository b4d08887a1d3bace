"""Browser-like request headers per source.

Several of these sites treat clients without browser headers badly: nasdaq.com
is known to hang (not refuse) when User-Agent, Origin and Referer are missing.
"""

from __future__ import annotations

from divpipe.sources import registry

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
_COMMON = {"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9"}


def headers_for(source: str) -> dict[str, str]:
    """The default headers sent with every request to `source` (its own from the registry)."""
    spec = registry.BY_NAME.get(source)
    return {**_COMMON, **(spec.headers if spec else {"Accept": "*/*"})}
