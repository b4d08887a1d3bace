"""scripts/scrape_yieldmax.py: every YieldMax fund's distributions table."""

from __future__ import annotations

from divpipe.jobs import scrape
from divpipe.sources import yieldmax


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_yieldmax.py",
        f"Fetch the YieldMax fund list, then each fund page's distributions table, and upsert them "
        f"into {yieldmax.TABLE}.",
    )
    parser.add_argument("--tickers", type=scrape.symbol_list, metavar="ULTY,MSTY",
                        help="only these funds, comma-separated (default: every fund on the fund list; "
                             "the list page is then not fetched)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        harvest = scrape.Harvest()
        tickers = args.tickers
        own = set(tickers or ())
        if not tickers:
            url = yieldmax.fund_list_request()
            listed = fetcher.get_parsed(url, lambda body: yieldmax.parse_fund_list(body, url))
            harvest.rejected.extend(listed.rejected)
            own = set(listed.records)
            # A fund page skipped before is fetched again even if the list no longer links it.
            carried = [p.key for p in scrape.carried_pages(conn, yieldmax.SOURCE)]
            tickers = list(dict.fromkeys([*listed.records, *carried]))

        def page_of(ticker: str) -> scrape.Page:
            return scrape.Page(ticker, yieldmax.fund_request(ticker), carried=ticker not in own)

        def one(ticker: str):
            url = yieldmax.fund_request(ticker)
            return fetcher.get_parsed(url, lambda body: yieldmax.parse_fund_page(body, url, ticker))

        for _, result in fetcher.pages(harvest, tickers, page_of, one):
            harvest.add(result)
        return harvest

    return scrape.run(yieldmax.SOURCE, yieldmax.TABLE, args, collect)
