"""Which outside source a host belongs to, and which hosts never leave the machine."""

from __future__ import annotations

import ipaddress

from divpipe.sources import registry

# Host suffixes per source: the registry's, in one mapping for readers of this module.
SOURCE_HOSTS: dict[str, tuple[str, ...]] = {spec.name: spec.hosts for spec in registry.SPECS}

_LOCAL_NAMES = {"localhost", "localhost.localdomain"}


def source_for_host(host: str | None) -> str | None:
    """The source name a host belongs to, or None for a host we do not know."""
    spec = registry.for_host(host)
    return spec.name if spec else None


def limiter_key(host: str) -> str:
    """The rate-limit bucket a host draws from: its own, or its source's when the source's
    hosts share one budget (Yahoo: its limits are per client IP, not per host name)."""
    spec = registry.for_host(host)
    return spec.name if spec and spec.one_bucket else host.lower()


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
