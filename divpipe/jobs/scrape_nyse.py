"""scripts/scrape_nyse_dividends.py: NYSE's ex-date exceptions list, rows in the ex-date window."""

from __future__ import annotations

from divpipe.jobs import scrape
from divpipe.sources import nyse

BACK, AHEAD = 7, 30


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_nyse_dividends.py",
        f"Fetch NYSE's ex-date dividends page (exceptions where the ex-date is not the record date; "
        f"no amounts) and upsert the rows whose ex-date is in the window into {nyse.TABLE}.",
    )
    scrape.add_window_arguments(parser, BACK, AHEAD)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start, end = scrape.window(args, BACK, AHEAD)

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        url = nyse.request()
        result = fetcher.get_parsed(url, lambda body: nyse.parse(body, url))
        harvest = scrape.Harvest(rejected=result.rejected)
        for record in result.records:
            if start <= record.ex_date <= end:
                harvest.records.append(record)
            else:
                harvest.leave_out(f"ex-date outside {start}..{end}")
        return harvest

    return scrape.run(nyse.SOURCE, nyse.TABLE, args, collect)
