"""scripts/scrape_cboe_dividends.py: CBOE dividend notices and their detail pages.

Detail pages already stored (by detail_key) are not fetched again: a notice,
once published, does not change, and the stored keys are read in one query.
"""

from __future__ import annotations

import argparse

import psycopg2

from divpipe.errors import DatabaseError
from divpipe.jobs import scrape
from divpipe.market_time import exchange_today
from divpipe.sources import cboe

FIRST_YEAR = 2000


def year_list(text: str) -> list[int]:
    years = []
    latest = exchange_today().year + 1
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not FIRST_YEAR <= int(part) <= latest:
            raise argparse.ArgumentTypeError(f"not a year between {FIRST_YEAR} and {latest}: {part!r}")
        years.append(int(part))
    return sorted(set(years))


def build_parser() -> scrape.ArgumentParser:
    parser = scrape.argument_parser(
        "scrape_cboe_dividends.py",
        f"Fetch CBOE's dividend notices for some years, then each notice's detail page not yet stored, "
        f"and upsert them into {cboe.TABLE}. On a dry run every detail page is fetched.",
    )
    parser.add_argument("--years", type=year_list, metavar="2026,2027",
                        help="years of notices to fetch, comma-separated (default: the current year in New York)")
    return parser


def stored_detail_keys(conn) -> set[str]:
    """The detail pages already stored, in one query."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT DISTINCT detail_key FROM {cboe.TABLE} WHERE detail_key IS NOT NULL")
            keys = {row[0] for row in cur.fetchall()}
        conn.rollback()  # end the read-only transaction: the fetches that follow take a while
    except psycopg2.Error as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatabaseError(f"reading {cboe.TABLE}: {reason}") from err
    return keys


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    years = args.years or [exchange_today().year]

    def collect(fetcher: scrape.Fetcher, conn) -> scrape.Harvest:
        harvest = scrape.Harvest()

        def notices_of(year: int):
            url = cboe.notices_request(year)
            return fetcher.get_parsed(url, lambda body: cboe.parse_notices(body, url))

        results = fetcher.map(years, notices_of)
        for result in results:
            harvest.rejected.extend(result.rejected)
        notices = list(dict.fromkeys(n for result in results for n in result.records))
        stored = stored_detail_keys(conn) if conn is not None else set()
        fresh = [n for n in notices if n.detail_key not in stored]
        harvest.leave_out("detail page already stored", len(notices) - len(fresh))
        listed = {n.detail_key for n in fresh}
        # Pages skipped on an earlier night, whatever year their notice is in.
        carried = {p.key for p in scrape.carried_pages(conn, cboe.SOURCE)}
        fresh += [cboe.Notice.from_key(key) for key in sorted(carried - listed - stored)]

        def page_of(notice: cboe.Notice) -> scrape.Page:
            return scrape.Page(notice.detail_key, cboe.detail_request(notice),
                               carried=notice.detail_key not in listed)

        def details_of(notice: cboe.Notice):
            url = cboe.detail_request(notice)
            return fetcher.get_parsed(url, lambda body: cboe.parse_detail(body, url, notice))

        for _, result in fetcher.pages(harvest, fresh, page_of, details_of):
            harvest.add(result)
        return harvest

    return scrape.run(cboe.SOURCE, cboe.TABLE, args, collect)
