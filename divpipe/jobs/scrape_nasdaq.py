"""scripts/scrape_nasdaq_dividends.py: the NASDAQ dividend calendar, one request per ex-date."""

from __future__ import annotations

import datetime as dt

from divpipe.jobs import scrape
from divpipe.sources import nasdaq

BACK, AHEAD = 7, 30


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_nasdaq_dividends.py",
        f"Fetch NASDAQ's dividend calendar for every ex-date in a window (one request per date) "
        f"and upsert it into {nasdaq.TABLE}.",
    )
    scrape.add_window_arguments(parser, BACK, AHEAD)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start, end = scrape.window(args, BACK, AHEAD)
    dates = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        def one(day: dt.date):
            url = nasdaq.request_for(day)
            return fetcher.get_parsed(url, lambda body: nasdaq.parse(body, url))

        harvest = scrape.Harvest()
        for result in fetcher.map(dates, one):
            harvest.add(result)
        return harvest

    return scrape.run(nasdaq.SOURCE, nasdaq.TABLE, args, collect)
