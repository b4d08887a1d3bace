"""Which outside source a host belongs to, and which hosts never leave the machine."""

from __future__ import annotations

import ipaddress

# Host suffixes per source. Yahoo spreads one service over many hosts
# (fc, query1, query2, guce, consent): they share one budget because Yahoo's
# limits are per client IP, not per host name.
SOURCE_HOSTS: dict[str, tuple[str, ...]] = {
    "yahoo": ("yahoo.com",),
    "nasdaq": ("api.nasdaq.com", "www.nasdaq.com"),
    "nasdaqtrader": ("nasdaqtrader.com",),
    "cboe": ("cboe.com",),
    "yieldmax": ("yieldmaxetfs.com",),
    "nyse": ("nyse.com",),
    "snowball": ("snowball-analytics.com",),
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain"}


def source_for_host(host: str | None) -> str | None:
    """The source name a host belongs to, or None for a host we do not know."""
    if not host:
        return None
    host = host.lower()
    for source, suffixes in SOURCE_HOSTS.items():
        for suffix in suffixes:
            if host == suffix or host.endswith("." + suffix):
                return source
    return None


def limiter_key(host: str) -> str:
    """The rate-limit bucket a host draws from: its own, except Yahoo's shared one."""
    return "yahoo" if source_for_host(host) == "yahoo" else host.lower()


def is_local(host: str | None) -> bool:
    """True for loopback names and addresses: those are never redirected."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
