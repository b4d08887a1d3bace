"""The simulator redirect: with DIVPIPE_SIMULATOR_URL set, no request leaves the machine.

Every non-local URL keeps its path and query but goes to the simulator's base
URL; the host it was meant for travels in the X-Original-Host header, which
is what the simulator routes on.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from divpipe.config import get_settings
from divpipe.net import hosts

ORIGINAL_HOST_HEADER = "X-Original-Host"


def simulator_url() -> str | None:
    return get_settings().divpipe_simulator_url


def rewrite(url: str) -> tuple[str, str | None]:
    """(url to request, original host or None when the URL is left alone)."""
    base = simulator_url()
    if not base:
        return url, None
    parts = urlsplit(url)
    if hosts.is_local(parts.hostname):
        return url, None
    sim = urlsplit(base)
    new = urlunsplit((sim.scheme, sim.netloc, parts.path or "/", parts.query, ""))
    return new, parts.hostname
