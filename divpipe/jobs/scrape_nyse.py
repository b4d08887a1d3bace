"""scripts/scrape_nyse_dividends.py: NYSE's ex-date exceptions list, every row it lists.

The page is short and each row is a fact it states, so every row is stored,
whatever its ex-date.
"""

from __future__ import annotations

from divpipe.jobs import scrape
from divpipe.sources import nyse


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_nyse_dividends.py",
        f"Fetch NYSE's ex-date dividends page (exceptions where the ex-date is not the record date; "
        f"no amounts) and upsert every row it lists into {nyse.TABLE}.",
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        # The one page is the whole source: if it fails, nothing is known (exit 1).
        url = nyse.request()
        result = fetcher.get_parsed(url, lambda body: nyse.parse(body, url))
        harvest = scrape.Harvest()
        harvest.add(result)
        return harvest

    return scrape.run(nyse.SOURCE, nyse.TABLE, args, collect)
