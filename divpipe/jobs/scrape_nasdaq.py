"""scripts/scrape_nasdaq_dividends.py: the NASDAQ dividend calendar, one request per ex-date."""

from __future__ import annotations

import datetime as dt
import logging

from divpipe.jobs import scrape
from divpipe.sources import nasdaq

log = logging.getLogger(__name__)

BACK, AHEAD = 7, 30


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_nasdaq_dividends.py",
        f"Fetch NASDAQ's dividend calendar for every ex-date in a window (one request per date) "
        f"and upsert it into {nasdaq.TABLE}. Dates skipped on earlier nights are fetched again.",
    )
    scrape.add_window_arguments(parser, BACK, AHEAD)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start, end = scrape.window(args, BACK, AHEAD)
    window = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        pages = {day.isoformat(): scrape.Page(day.isoformat(), nasdaq.request_for(day)) for day in window}
        for page in scrape.carried_pages(conn, nasdaq.SOURCE):
            pages.setdefault(page.key, page)

        def one(page: scrape.Page) -> nasdaq.Day:
            return fetcher.get_parsed(page.url, lambda body: nasdaq.parse(body, page.url))

        harvest = scrape.Harvest()
        not_available = []
        for page, day in fetcher.pages(harvest, list(pages.values()), lambda p: p, one):
            harvest.add(day)
            if day.not_available:
                not_available.append(page.key)
        if not_available:
            log.info("%s: no calendar for %s (\"Data is currently not available for the selected date\")",
                     nasdaq.SOURCE, ", ".join(sorted(not_available)))
            harvest.notes.append(f"{len(not_available)} {'date' if len(not_available) == 1 else 'dates'} "
                                 f"not available")
        return harvest

    return scrape.run(nasdaq.SOURCE, nasdaq.TABLE, args, collect)
