"""Make yfinance obey the HTTP layer: simulator redirect, Yahoo's rate limit, retries, counting.

yfinance builds its own sessions (curl_cffi's, or requests' when curl_cffi
is disabled) and refuses wrapped or caching sessions, and its URLs are
constants imported by name all over the package. What reliably reaches every
request is the `request` method of the two session classes, so we wrap it
once, at class level. Our own sessions (divpipe.net.httpclient) are marked and
pass through untouched: they already did all of this themselves.

Retries follow divpipe.net.retrypolicy, like our own client's: 5xx,
timeouts, resets and 200s whose JSON body is garbled are tried again HTTP_RETRIES times with backoff; only
the last answer (or exception) reaches yfinance, unchanged. A 429 is not
retried here: it pauses every Yahoo request of the run, and yfinance
turns it into YFRateLimitError, on which the Yahoo jobs' fan-out retries the
symbol after that pause.

yfinance reports a server error on its timezone probe, or a 5xx whose body
is JSON, as "possibly delisted"/"no timezone found", the same words it uses
for a symbol Yahoo does not know. So the wrapper remembers, per thread, the
requests it gave up on: `failed_requests()` lets a caller tell the two apart.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from divpipe.config import get_settings
from divpipe.net import counters, hosts, ratelimit, redirect, retrypolicy
from divpipe.net.retrypolicy import RETRY_STATUSES, TRANSIENT_ERRORS, retry_after_seconds

log = logging.getLogger(__name__)

# Any Yahoo host names the shared Yahoo bucket.
_YAHOO_HOST = "query2.finance.yahoo.com"

_install_lock = threading.Lock()
_installed = False

_watch = threading.local()


def cooldown(seconds: float) -> None:
    """Stop every thread of every process of the run from calling Yahoo for `seconds`.

    Call it on YFRateLimitError; the wrapper also calls it on any 429 it sees.
    Threads waiting for a slot wait out the pause too; afterwards the budget
    restarts empty, so the pause is not followed by a burst.
    """
    ratelimit.bucket_for(_YAHOO_HOST).cooldown(seconds)
    log.warning("⚠️ Yahoo rate limit: pausing all Yahoo requests, in every process, for %.0f s", seconds)


def cooldown_remaining() -> float:
    return ratelimit.bucket_for(_YAHOO_HOST).paused_for()


@contextlib.contextmanager
def failed_requests() -> Iterator[list[str]]:
    """Collect the requests this thread gives up on while the block runs.

    Each entry reads "host/path: last status" (a 5xx, 429, or the
    exception's class name): Yahoo did not really answer those, so an empty
    result yfinance derived from them says nothing about the symbol.
    """
    outer = getattr(_watch, "failed", None)
    _watch.failed = failed = []
    try:
        yield failed
    finally:
        _watch.failed = outer
        if outer is not None:
            outer.extend(failed)


def _gave_up(host: str, path: str, last: object) -> None:
    counters.record(host, "failures")
    failed = getattr(_watch, "failed", None)
    if failed is not None:
        failed.append(f"{host}{path}: {last}")


def _wrap(original):
    @functools.wraps(original)
    def request(self, method, url, *args, **kwargs):
        if getattr(self, "_divpipe_managed", False):
            return original(self, method, url, *args, **kwargs)
        parts = urlsplit(str(url))
        if hosts.is_local(parts.hostname):
            return original(self, method, url, *args, **kwargs)
        target, original_host = redirect.rewrite(str(url))
        if original_host:
            headers = dict(kwargs.get("headers") or {})
            headers[redirect.ORIGINAL_HOST_HEADER] = original_host
            kwargs["headers"] = headers
        return _send(lambda: original(self, method, target, *args, **kwargs), self,
                     parts.hostname or "?", parts.path or "/", bool(original_host))

    request._divpipe_wrapper = True
    return request


def _send(attempt_once, session, host: str, path: str, redirected: bool):
    """Attempts of one request: rate limit and count each, retry per the shared policy.

    Returns the last response or raises the last exception, as the session
    itself would have.
    """
    settings = get_settings()
    is_yahoo = hosts.source_for_host(host) == "yahoo"
    attempts = settings.http_retries + 1
    for attempt in range(attempts):
        if attempt:
            counters.record(host, "retries")
        if is_yahoo:
            waited = ratelimit.bucket_for(host).acquire()
            if waited:
                counters.record(host, "throttled_ms", int(waited * 1000))
        counters.record(host, "requests")
        last = attempt + 1 == attempts
        try:
            response = attempt_once()
        except TRANSIENT_ERRORS as exc:
            if last:
                _gave_up(host, path, type(exc).__name__)
                raise
            retry_after = None
        else:
            if redirected and is_yahoo:
                _file_cookies_under_yahoo(session)
            status = getattr(response, "status_code", None)
            if status == 429:
                pause = retry_after_seconds(response.headers.get("Retry-After"))
                if is_yahoo:
                    cooldown(min(pause if pause is not None else settings.http_backoff * 8,
                                 retrypolicy.MAX_RETRY_AFTER))
                _gave_up(host, path, status)
                return response
            garbled = is_yahoo and status == 200 and _garbled_json(path, response)
            if status not in RETRY_STATUSES and not garbled:
                return response
            if last:
                _gave_up(host, path, "garbled body" if garbled else status)
                return response
            retry_after = None if garbled else retry_after_seconds(response.headers.get("Retry-After"))
        delay = retrypolicy.wait_before_retry(attempt, settings.http_backoff, retry_after)
        log.debug("retried %s%s, %.2fs later", host, path, delay)
    raise AssertionError("unreachable")


# Yahoo's data endpoints answer JSON; a 200 whose body does not parse is a
# damaged answer (cut or garbled on the way), worth fetching again like a 5xx.
_JSON_PATHS = ("/v8/finance/chart/", "/v10/finance/quoteSummary/", "/v7/finance/quote",
               "/ws/fundamentals-timeseries/")


def _garbled_json(path: str, response) -> bool:
    body = getattr(response, "content", None)
    if body is None or not path.startswith(_JSON_PATHS):
        return False
    try:
        json.loads(body)
    except (ValueError, TypeError):
        return True
    return False


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
