"""Which simulated site answers a request: routed on the original host and the path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import unquote

from divpipe.sim import yahoo
from divpipe.sim.pages import Pages
from divpipe.sim.universe import Universe
from divpipe.sources import registry

# status, content type, body, extra headers
Routed = tuple[int, str, bytes, dict[str, str]]

_NOT_FOUND = (404, "text/html; charset=utf-8", b"<html><body><h1>404 Not Found</h1></body></html>", {})


def route(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
          headers: Mapping[str, str] | None = None) -> Routed:
    """The page of the source the host belongs to whose path matches (the registry's sim_pages)."""
    spec = registry.for_host(host)
    if spec is None:
        return _NOT_FOUND
    for page in spec.sim_pages:
        if page.matches(path):
            return handler(page.handler)(u, pages, host, path, q, headers or {})
    return _NOT_FOUND


def page_yieldmax(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    if path == "/our-etfs/":
        return (*pages.yieldmax_list(), {})
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == "our-etfs":
        if not path.endswith("/"):
            # WordPress adds the trailing slash with a permanent redirect.
            location = f"https://{host}{path}/"
            return 301, "text/html", b"", {"Location": location}
        return (*pages.yieldmax_fund(parts[1]), {})
    return _NOT_FOUND


def page_yahoo(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    if host == "fc.yahoo.com":
        # The real host answers 404 too; what matters is the cookie.
        return (404, "text/html", b"<html><body>Not Found</body></html>", {"Set-Cookie": yahoo.COOKIE})
    if path == "/v1/test/getcrumb":
        return 200, "text/plain;charset=utf-8", yahoo.CRUMB.encode(), {}
    symbol = unquote(path.rsplit("/", 1)[-1])
    if path.startswith("/v8/finance/chart/"):
        return (*yahoo.chart(u, symbol, q), {})
    if path.startswith("/v10/finance/quoteSummary/"):
        return (*yahoo.quote_summary(u, symbol, q), {})
    if path.rstrip("/") == "/v7/finance/quote":
        return (*yahoo.quote(u, q), {})
    if path.startswith("/ws/fundamentals-timeseries/v1/finance/timeseries/"):
        return (*yahoo.timeseries(u, symbol, q), {})
    if host == "guce.yahoo.com":
        # No consent form: yfinance's csrf strategy gives up and goes back to basic.
        return 200, "text/html", b"<html><body>Consent not required</body></html>", {}
    return _NOT_FOUND



# The handlers the registry's SimPage entries name (`handler` -> `page_<handler>` here).
def page_nasdaq_calendar(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    return (*pages.nasdaq_calendar(q), {})


def page_symbol_directory(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    return (*pages.symbol_directory(path.rsplit("/", 1)[1]), {})


def page_cboe_year(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    return (*pages.cboe_year(q), {})


def page_cboe_detail(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    return (*pages.cboe_detail(q), {})


def page_nyse(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    return (*pages.nyse(), {})


def page_snowball(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
             headers: Mapping[str, str]) -> Routed:
    return (*pages.snowball(q), {})


def page_polygon(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str],
                 headers: Mapping[str, str]) -> Routed:
    return pages.polygon.answer(host, path, q, headers)


def handler(name: str) -> Callable[[Universe, Pages, str, str, dict[str, str], Mapping[str, str]], Routed]:
    """The function answering the registry's SimPage `handler` name."""
    return globals()[f"page_{name}"]
