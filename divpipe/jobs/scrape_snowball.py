"""scripts/scrape_snowball_dividends.py: every page of a Snowball calendar category, declared rows."""

from __future__ import annotations

import argparse

from divpipe.errors import SourceFormatError
from divpipe.jobs import scrape
from divpipe.sources import snowball

# totalCount is the server's word; past this many pages it is wrong, not big.
MAX_PAGES = 200


def category(text: str) -> str:
    if not snowball.CATEGORY_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            f"not a category name: {text!r} (known: {', '.join(snowball.KNOWN_CATEGORIES)})")
    return text


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_snowball_dividends.py",
        f"Fetch every page of a Snowball Analytics dividend calendar and upsert the rows whose status "
        f"is 'declared' into {snowball.TABLE} ('estimated' rows are left out).",
    )
    parser.add_argument("--category", type=category, default=snowball.DEFAULT_CATEGORY,
                        help=f"calendar to fetch: {', '.join(snowball.KNOWN_CATEGORIES)} "
                             f"(default: %(default)s)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        def one(page: int) -> snowball.Page:
            url = snowball.page_request(args.category, page)
            return fetcher.get_parsed(url, lambda body: snowball.parse_page(body, url, args.category))

        # Page 1 is the index: its totalCount says how many pages there are.
        first = one(1)
        if first.pages > MAX_PAGES:
            raise SourceFormatError(snowball.SOURCE, snowball.page_request(args.category, 1),
                                    f"totalCount {first.total_count} implies more than {MAX_PAGES} pages")
        harvest = scrape.Harvest()

        def page_of(number: int) -> scrape.Page:
            return scrape.Page(f"{args.category}:{number}", snowball.page_request(args.category, number))

        # Every page is fetched every night, so one skipped before needs no extra fetch.
        rest = fetcher.pages(harvest, list(range(2, first.pages + 1)), page_of, one)
        pages = [first, *(page for _, page in rest)]
        for page in pages:
            harvest.rejected.extend(page.result.rejected)
            for record in page.result.records:
                if record.status == "declared":
                    harvest.records.append(record)
                else:
                    harvest.leave_out(f"status {record.status!r} (only 'declared' is kept)")
        return harvest

    # Pages are slices of one list sorted by payment date: two distributions of
    # one ex-date may sit on either side of a page break, so they are numbered
    # over the whole list.
    return scrape.run(snowball.SOURCE, snowball.TABLE, args, collect, listing=lambda record: None)
