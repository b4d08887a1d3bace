"""scripts/scrape_polygon_dividends.py: Polygon/Massive dividends, every US ticker in a few requests.

The bulk form asks for every distribution with an ex-date in the window (no
ticker) and follows `next_url` until the last page: a nightly window of
today-7..today+30 is one or two requests, where a per-ticker loop over 5,000
symbols at the free tier's 5 requests per minute would take 16 hours
(BENCHMARKS.md). `--tickers A,B --since D` fetches the history of named
symbols instead.

Without MASSIVE_API_KEY (or POLYGON_API_KEY) the task says so in one line
and exits 0: the source is optional. The key is sent only in the
`Authorization: Bearer` header; no URL holds it, so no log line can.

Pages follow one another through `next_url`, so a page that fails leaves
every later one unknown: any failure ends the run with exit 1 and nothing
written, with one line that says what to do (a refused key, a plan without
access, an expired cursor, a body that is not the API's JSON).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from divpipe.config import get_settings
from divpipe.errors import ConfigError, DivpipeError
from divpipe.jobs import scrape
from divpipe.market_time import exchange_today
from divpipe.sources import polygon

log = logging.getLogger(__name__)

BACK, AHEAD = 7, 30
# Symbols per request with --tickers on the newer endpoint: keeps the URL short.
TICKERS_PER_REQUEST = 100
# Pages followed at most in one run: a loop in next_url must not run all night.
MAX_PAGES = 10_000


class PolygonRefused(DivpipeError):
    """The API refused the key, the plan or the cursor: one line, exit 1."""


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_polygon_dividends.py",
        f"Fetch Polygon/Massive dividends (every US ticker) with an ex-date in a window, following "
        f"next_url, and upsert them into {polygon.TABLE}. Runs only when MASSIVE_API_KEY or "
        f"POLYGON_API_KEY is set (otherwise one line, exit 0).",
    )
    scrape.add_window_arguments(parser, BACK, AHEAD)
    parser.add_argument("--tickers", type=scrape.symbol_list, metavar="A,B",
                        help="only these symbols (history: with --since)")
    parser.add_argument("--since", type=scrape.iso_date, metavar="YYYY-MM-DD",
                        help="with --tickers: first ex-date (default: HISTORY_YEARS ago)")
    return parser


def api_key() -> str | None:
    settings = get_settings()
    return settings.massive_api_key or settings.polygon_api_key


def _window(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    if not args.tickers:
        if args.since:
            raise ConfigError("--since needs --tickers; for every ticker use --start and --end")
        return scrape.window(args, BACK, AHEAD)
    # A named symbol's history may span decades: no window cap, a few requests per symbol.
    today = exchange_today()
    start = args.since or args.start or today.replace(year=today.year - get_settings().history_years)
    end = args.end or today + dt.timedelta(days=AHEAD)
    if start > end:
        raise ConfigError(f"--since {start} is after --end {end}")
    return start, end


def first_urls(endpoint: str, start: dt.date, end: dt.date, tickers: list[str] | None) -> list[str]:
    if not tickers:
        return [polygon.first_url(endpoint, start, end)]
    if endpoint == "legacy":
        return [polygon.first_url(endpoint, start, end, [t]) for t in tickers]
    return [polygon.first_url(endpoint, start, end, tickers[i:i + TICKERS_PER_REQUEST])
            for i in range(0, len(tickers), TICKERS_PER_REQUEST)]


def _refusal(status: int, url: str, body: bytes, key: str, first: bool) -> PolygonRefused:
    message = _message(body).replace(key, "***")
    where = url.split("?", 1)[0]
    if status == 401:
        return PolygonRefused(f"polygon: the API key was refused (HTTP 401: {message}); "
                              f"check MASSIVE_API_KEY (or POLYGON_API_KEY)")
    if status == 403:
        return PolygonRefused(f"polygon: this key's plan has no access to {where} (HTTP 403: {message}); "
                              f"a plan with dividends, or POLYGON_ENDPOINT=legacy, is needed")
    if not first:
        return PolygonRefused(f"polygon: the next page was refused (HTTP {status}: {message}); its cursor "
                              f"may have expired, the next run starts again from the first page")
    return PolygonRefused(f"polygon: {where} answered HTTP {status}: {message}")


def _message(body: bytes) -> str:
    import json

    try:
        doc: Any = json.loads(body)
    except ValueError:
        return "no message"
    text = (doc.get("message") or doc.get("error") or doc.get("status")) if isinstance(doc, dict) else None
    return str(text or "no message")[:200]


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    key = api_key()
    if not key:
        print("polygon: skipped, MASSIVE_API_KEY (or POLYGON_API_KEY) is not set")
        return 0
    start, end = _window(args)
    endpoint = get_settings().polygon_endpoint
    auth = {"Authorization": f"Bearer {key}"}

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        harvest = scrape.Harvest()
        for url in first_urls(endpoint, start, end, args.tickers):
            first = True
            next_url: str | None = url
            while next_url:
                if len(harvest.pages) >= MAX_PAGES:
                    raise PolygonRefused(f"polygon: more than {MAX_PAGES} pages, next_url looks like a loop")
                page_url = next_url
                response = fetcher.client.get(
                    page_url, headers=auth, accept_status=(400, 401, 403, 404),
                    validate=lambda body, u=page_url: polygon.parse(body, u))
                if response.status >= 400:
                    raise _refusal(response.status, page_url, response.content, key, first)
                page: polygon.Page = response.validated
                harvest.add(page.result)
                harvest.pages.append(scrape.Page(page_url, page_url))
                next_url, first = page.next_url, False
        harvest.notes.append(f"{start}..{end} via {polygon.ENDPOINTS[endpoint][0]}")
        return harvest

    # One listing per run (the pages of a window are one list): seq counts in it.
    return scrape.run(polygon.SOURCE, polygon.TABLE, args, collect, listing=lambda record: None,
                      natural_key="polygon_id")
