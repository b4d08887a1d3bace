"""Make yfinance obey the HTTP layer: simulator redirect, Yahoo's rate limit, counting.

yfinance builds its own sessions (curl_cffi's, or requests' when curl_cffi
is disabled) and refuses wrapped or caching sessions, and its URLs are
constants imported by name all over the package. What reliably reaches every
request is the `request` method of the two session classes, so we wrap it
once, at class level. Our own sessions (divpipe.net.httpclient) are marked and
pass through untouched: they already did all of this themselves.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from urllib.parse import urlsplit

from divpipe.config import get_settings
from divpipe.net import counters, hosts, ratelimit, redirect
from divpipe.net.httpclient import retry_after_seconds

log = logging.getLogger(__name__)

# Any Yahoo host names the shared Yahoo bucket.
_YAHOO_HOST = "query2.finance.yahoo.com"

_install_lock = threading.Lock()
_installed = False


def cooldown(seconds: float) -> None:
    """Stop every thread of this process from calling Yahoo for `seconds`.

    Call it on YFRateLimitError; the wrapper also calls it on any 429 it sees.
    Threads waiting for a slot wait out the pause too; afterwards the budget
    restarts empty, so the pause is not followed by a burst.
    """
    ratelimit.bucket_for(_YAHOO_HOST).cooldown(seconds)
    log.warning("⚠️ Yahoo rate limit: pausing all Yahoo requests for %.0f s", seconds)


def cooldown_remaining() -> float:
    return ratelimit.bucket_for(_YAHOO_HOST).paused_for()


def _wrap(original):
    @functools.wraps(original)
    def request(self, method, url, *args, **kwargs):
        if getattr(self, "_divpipe_managed", False):
            return original(self, method, url, *args, **kwargs)
        host = urlsplit(str(url)).hostname
        if hosts.is_local(host):
            return original(self, method, url, *args, **kwargs)
        is_yahoo = hosts.source_for_host(host) == "yahoo"
        if is_yahoo:
            waited = ratelimit.bucket_for(host).acquire()
            if waited:
                counters.record(host, "throttled_ms", int(waited * 1000))
        counters.record(host or "?", "requests")
        target, original_host = redirect.rewrite(str(url))
        if original_host:
            headers = dict(kwargs.get("headers") or {})
            headers[redirect.ORIGINAL_HOST_HEADER] = original_host
            kwargs["headers"] = headers
        response = original(self, method, target, *args, **kwargs)
        if original_host and is_yahoo:
            _file_cookies_under_yahoo(self)
        if is_yahoo and getattr(response, "status_code", None) == 429:
            pause = retry_after_seconds(response.headers.get("Retry-After"))
            cooldown(pause if pause is not None else get_settings().http_backoff * 8)
        return response

    request._divpipe_wrapper = True
    return request


def _file_cookies_under_yahoo(session) -> None:
    """Copy cookies the simulator set (domain 127.0.0.1) to .yahoo.com.

    yfinance keeps and reuses its cookie only when the jar holds it under a
    Yahoo domain (data.YfData._save_cookie_curlCffi); without this copy it
    would fetch a fresh cookie before every request from the simulator and
    use twice the requests it uses against the real site.
    """
    jar = getattr(session.cookies, "jar", session.cookies)
    for cookie in list(jar):
        if hosts.is_local(cookie.domain.lstrip(".").removesuffix(".local")):
            mirrored = copy.copy(cookie)
            mirrored.domain = ".yahoo.com"
            mirrored.domain_specified = mirrored.domain_initial_dot = True
            jar.set_cookie(mirrored)


def _install_wrappers() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        import requests

        classes = [requests.Session]
        try:
            from curl_cffi.requests import Session as CurlSession

            classes.append(CurlSession)
        except ImportError:  # yfinance then runs on requests alone
            pass
        for cls in classes:
            if not getattr(cls.request, "_divpipe_wrapper", False):
                cls.request = _wrap(cls.request)
        _installed = True


def _point_caches(directory: str) -> None:
    import yfinance as yf
    from yfinance import cache

    yf.set_tz_cache_location(directory)
    # The cache objects remember the database they opened first: drop them
    # so the next lookup opens the one under `directory`.
    cache._TzCacheManager._tz_cache = None
    cache._CookieCacheManager._Cookie_cache = None
    cache._ISINCacheManager._isin_cache = None


def prepare_yfinance(settings=None) -> None:
    """Call once before using yfinance in a process (idempotent).

    Keeps yfinance's timezone and cookie caches under DIVPIPE_DATA_DIR/yfinance
    (so a nightly run does not pay the per-ticker timezone probe again) and
    installs the request wrapper.
    """
    settings = settings or get_settings()
    directory = settings.divpipe_data_dir / "yfinance"
    directory.mkdir(parents=True, exist_ok=True)
    _install_wrappers()
    _point_caches(str(directory))


def reset_yfinance_state() -> None:
    """Forget yfinance's process-wide session, cookie, crumb, caches and settings (tests)."""
    import yfinance as yf
    from yfinance import base, data

    yf.config.debug.hide_exceptions = True  # yfinance's default; jobs turn it off

    data.SingletonMeta._instances.pop(data.YfData, None)
    data.YfData.cache_get.cache_clear()
    base._tz_info_fetch_ctr = 0
