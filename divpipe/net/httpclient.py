"""`client(source)`: the one way the pipeline fetches a URL.

Each source gets one `HttpClient` per process, shared by its threads: one
connection pool, browser-like headers, connect/read timeouts, a response size
cap, retries with exponential backoff and jitter (honouring Retry-After; the
policy is divpipe.net.retrypolicy, shared with the yfinance wrapper), and
the per-host token bucket in front of every attempt.

The retry loop is ours rather than urllib3's `Retry` because every attempt
must pass the rate limiter again and be counted, and a 429 must cool the
whole host down, not just this thread.
"""

from __future__ import annotations

import json as _json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from divpipe.config import SOURCES, get_settings
from divpipe.errors import FetchError, SourceFormatError
from divpipe.net import counters, ratelimit, redirect, retrypolicy
from divpipe.net.headers import headers_for
from divpipe.net.retrypolicy import MAX_RETRY_AFTER, RETRY_STATUSES, TRANSIENT_ERRORS, retry_after_seconds

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# Fetches of a body that does not pass `validate`, after the first, before
# its shape counts as changed. CDNs garble or cut a body now and then; a page
# whose shape really changed fails every time.
FORMAT_RETRIES = 2


class _BodyTooLarge(Exception):
    pass


class _Malformed(Exception):
    pass


class ResponseDeadline(requests.exceptions.Timeout):
    """The whole response took longer than HTTP_TOTAL_TIMEOUT.

    The read timeout bounds each wait for data; a server that trickles a byte
    now and then never trips it. A timeout like any other: retried, then
    FetchError ("last status ResponseDeadline").
    """


@dataclass
class Response:
    status: int
    content: bytes
    headers: Mapping[str, str]
    url: str  # the URL asked for (never the simulator's)
    encoding: str | None = None
    # What get(validate=...) returned for this body, so the caller need not parse it again.
    validated: Any = field(default=None, repr=False)
    _json: Any = field(default=None, repr=False)

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.encoding or "utf-8", errors="replace")
        except LookupError:  # a charset name Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        if self._json is None:
            self._json = _json.loads(self.content)
        return self._json


class HttpClient:
    """Thread-safe HTTP GETs for one source. Get it with `client(source)`."""

    def __init__(self, source: str, settings=None):
        self.source = source
        self.settings = settings or get_settings()
        self._session = requests.Session()
        # Marks our own sessions so the class-level yfinance wrapper
        # (divpipe.net.yahoo) lets them through untouched.
        self._session._divpipe_managed = True
        # Proxies and netrc from the environment are not ours to follow.
        self._session.trust_env = False
        pool = max(10, self.settings.workers(source) * 2) if source in SOURCES else 10
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.clear()
        self._session.headers.update(headers_for(source))

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        accept_status: Collection[int] = (),
        validate: Callable[[bytes], Any] | None = None,
    ) -> Response:
        """GET `url`; retry transient failures; raise FetchError when giving up.

        Statuses in `accept_status` (say 404 for a page that may not exist)
        are returned instead of raised.

        `validate(body)` (a source's parse function, typically) checks a
        successful body; its result is kept as `response.validated`. A
        SourceFormatError from it fetches the page again, up to
        FORMAT_RETRIES times, and is raised when the body never passes.
        """
        if validate is None:
            return self._fetch(url, params, headers, accept_status, want_json=False)
        parts = urlsplit(url)
        host = parts.hostname or "?"
        for refetch in range(FORMAT_RETRIES + 1):
            response = self._fetch(url, params, headers, accept_status, want_json=False)
            if response.status >= 400:  # an accepted error status: nothing to validate
                return response
            try:
                response.validated = validate(response.content)
                return response
            except SourceFormatError as err:
                if refetch == FORMAT_RETRIES:
                    counters.record(host, "failures")
                    raise
                log.warning("⚠️ %s; fetching it again", err)
                counters.record(host, "retries")
                retrypolicy.wait_before_retry(refetch, self.settings.http_backoff)
        raise AssertionError("unreachable")

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET and parse JSON; a body that does not parse is retried like a 5xx.

        A CDN that cuts or garbles a body now and then is a transient fault;
        a body that never parses still ends in FetchError naming the host.
        """
        return self._fetch(url, params, headers, (), want_json=True).json()

    # -- internals -------------------------------------------------------

    def _fetch(self, url, params, headers, accept_status, *, want_json: bool) -> Response:
        # Redirects are followed here, not by requests: each hop must be
        # rewritten for the simulator and pass the new host's rate limiter.
        for _ in range(MAX_REDIRECTS + 1):
            response = self._fetch_one(url, params, headers, accept_status, want_json=want_json)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            url, params = urljoin(url, location), None  # the Location carries its own query
        parts = urlsplit(url)
        raise FetchError(parts.hostname or "?", parts.path or "/", response.status, "too many redirects")

    def _fetch_one(self, url, params, headers, accept_status, *, want_json: bool) -> Response:
        parts = urlsplit(url)
        host, path = parts.hostname or "?", parts.path or "/"
        target, original_host = redirect.rewrite(url)
        extra = dict(headers or {})
        if original_host:
            extra[redirect.ORIGINAL_HOST_HEADER] = original_host
        bucket = ratelimit.bucket_for(host)
        attempts = self.settings.http_retries + 1
        last_status: int | str | None = None
        reason = ""
        for attempt in range(attempts):
            if attempt:
                counters.record(host, "retries")
            waited = bucket.acquire()
            if waited:
                counters.record(host, "throttled_ms", int(waited * 1000))
            counters.record(host, "requests")
            retry_after = None
            try:
                response = self._once(target, params, extra, url)
            except _BodyTooLarge as exc:
                counters.record(host, "failures")
                raise FetchError(host, path, "body too large", str(exc)) from None
            except TRANSIENT_ERRORS as exc:
                # Timeouts, resets, truncated bodies. Only the class name is
                # kept: requests' messages embed the full URL, query included,
                # and a query may carry a token.
                last_status, reason = type(exc).__name__, ""
            else:
                last_status, reason = response.status, ""
                if response.status == 429:
                    # The host says we are too fast: every thread of every process
                    # waits (in bucket.acquire), not just this one.
                    pause = retry_after_seconds(response.headers.get("Retry-After"))
                    if pause is None:
                        pause = retrypolicy.backoff(attempt, self.settings.http_backoff)
                    bucket.cooldown(min(pause, MAX_RETRY_AFTER))
                    retry_after = 0.0
                elif response.status in RETRY_STATUSES:
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                elif response.status in REDIRECT_STATUSES:
                    return response
                elif response.status >= 400 and response.status not in accept_status:
                    counters.record(host, "failures")
                    raise FetchError(host, path, response.status)
                elif want_json and response.status < 400:
                    try:
                        response.json()
                        return response
                    except ValueError:
                        last_status, reason = response.status, "body is not valid JSON"
                else:
                    return response
            if attempt + 1 < attempts:
                delay = retrypolicy.wait_before_retry(attempt, self.settings.http_backoff, retry_after)
                log.debug("retried %s%s after %s, %.2fs later", host, path, last_status, delay)
        counters.record(host, "failures")
        raise FetchError(host, path, last_status, reason)

    def _once(self, target, params, extra, asked_url) -> Response:
        timeout = (self.settings.http_connect_timeout, self.settings.http_read_timeout)
        total = self.settings.http_total_timeout
        deadline = time.monotonic() + total
        cap = self.settings.max_bytes(self.source)
        with self._session.get(target, params=params, headers=extra, timeout=timeout,
                               stream=True, allow_redirects=False) as raw:
            declared = raw.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise _BodyTooLarge(f"{declared} bytes declared, limit {cap}")
            chunks, size = [], 0
            try:
                while True:
                    if time.monotonic() > deadline:
                        raise ResponseDeadline(f"response not complete after HTTP_TOTAL_TIMEOUT={total:g}s")
                    # read1 returns what has arrived (after at most one read timeout),
                    # so the deadline is checked however slowly the bytes come.
                    chunk = raw.raw.read1(64 * 1024, decode_content=True)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > cap:
                        raise _BodyTooLarge(f"more than {cap} bytes")
                    chunks.append(chunk)
            except urllib3.exceptions.HTTPError as exc:
                # What iter_content would have raised: cut bodies, resets, read timeouts.
                if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                    raise requests.exceptions.ReadTimeout(type(exc).__name__) from None
                raise requests.exceptions.ChunkedEncodingError(type(exc).__name__) from None
            return Response(
                status=raw.status_code,
                content=b"".join(chunks),
                headers=CaseInsensitiveDict(raw.headers),
                url=asked_url,
                encoding=_declared_charset(raw.headers.get("Content-Type", "")),
            )


def _declared_charset(content_type: str) -> str | None:
    # Only a charset the server declared; requests would assume ISO-8859-1
    # for any text/* without one, and the sites we read send UTF-8.
    match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


_clients_lock = threading.Lock()
_clients: dict[str, HttpClient] = {}


def client(source: str) -> HttpClient:
    """The process-wide client for `source` (one of config.SOURCES)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    with _clients_lock:
        existing = _clients.get(source)
        if existing is None:
            existing = _clients[source] = HttpClient(source)
        return existing


def reset_clients() -> None:
    with _clients_lock:
        for c in _clients.values():
            c._session.close()
        _clients.clear()
