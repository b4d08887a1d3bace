"""Which simulated site answers a request: routed on the original host and the path."""

from __future__ import annotations

from urllib.parse import unquote

from divpipe.sim import yahoo
from divpipe.sim.pages import Pages
from divpipe.sim.universe import Universe

# status, content type, body, extra headers
Routed = tuple[int, str, bytes, dict[str, str]]

_NOT_FOUND = (404, "text/html; charset=utf-8", b"<html><body><h1>404 Not Found</h1></body></html>", {})


def _host_is(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def route(u: Universe, pages: Pages, host: str, path: str, q: dict[str, str]) -> Routed:
    if _host_is(host, "yahoo.com"):
        return _yahoo(u, host, path, q)
    if host == "api.nasdaq.com" and path.rstrip("/") == "/api/calendar/dividends":
        return (*pages.nasdaq_calendar(q), {})
    if _host_is(host, "nasdaqtrader.com") and path in ("/dynamic/SymDir/nasdaqlisted.txt",
                                                         "/dynamic/SymDir/otherlisted.txt"):
        return (*pages.symbol_directory(path.rsplit("/", 1)[1]), {})
    if _host_is(host, "cboe.com"):
        if path == "/us/equities/notices/data/dividends/":
            return (*pages.cboe_year(q), {})
        if path == "/us/equities/notices/dividends/details/":
            return (*pages.cboe_detail(q), {})
    if _host_is(host, "yieldmaxetfs.com"):
        if path == "/our-etfs/":
            return (*pages.yieldmax_list(), {})
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "our-etfs":
            if not path.endswith("/"):
                # WordPress adds the trailing slash with a permanent redirect.
                location = f"https://{host}{path}/"
                return 301, "text/html", b"", {"Location": location}
            return (*pages.yieldmax_fund(parts[1]), {})
    if _host_is(host, "nyse.com") and path.rstrip("/") == "/ex-date-dividends":
        return (*pages.nyse(), {})
    if _host_is(host, "snowball-analytics.com") and path == "/extapi/api/public/dividend-calendar/paged":
        return (*pages.snowball(q), {})
    return _NOT_FOUND


def _yahoo(u: Universe, host: str, path: str, q: dict[str, str]) -> Routed:
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
