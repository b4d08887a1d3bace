"""What the dividend scrapers share: arguments, fetching, validation, the write, the summary.

A scrape run collects every page first and writes once, in ONE transaction:
the records (one bulk upsert), the pages it had to skip, and the pages that
parsed again after being skipped before.

A page that still fails after the HTTP layer's re-fetches (it cannot be
fetched, or its shape changed) costs only itself: it is skipped with one ⚠️
line naming its URL and the reason, counted, and recorded in
`scrape_skipped_pages` so that the next run fetches it again, even once it
has left the window. The run writes the pages that parsed and exits 0.

The failure is systemic, and the run exits 1 writing nothing, when the list
or index page itself failed (nothing else can be trusted or even found), or
when more than SCRAPE_MAX_FAILED_PAGE_RATIO of the run's pages failed (the
site changed or is down: a half-scraped night stored as if complete would
hide that).

Rows that fail validation are different: each is skipped, logged with its
reason and counted, and never stops the others.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from divpipe import net
from divpipe.config import get_settings
from divpipe.entry import ArgumentParser, setup_logging
from divpipe.errors import ConfigError, DivpipeError, FetchError, SourceFormatError
from divpipe.fanout import fanout
from divpipe.market_time import exchange_today
from divpipe.sources import distributions, normalize
from divpipe.sources.records import Dividend, ParseResult, Rejected

log = logging.getLogger(__name__)

KEY = ("symbol", "ex_date", "distribution_type", "seq")
SKIPPED_TABLE = "scrape_skipped_pages"

T = TypeVar("T")
R = TypeVar("R")


def argument_parser(prog: str, description: str) -> ArgumentParser:
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--dry-run", action="store_true",
                        help="fetch and parse, print the records as JSON lines, write nothing "
                             "(and read nothing from the database)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


# A window longer than this is a typo (--end 2062), not a backfill.
MAX_WINDOW_DAYS = 400


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (expected YYYY-MM-DD): {text!r}") from None


def add_window_arguments(parser: argparse.ArgumentParser, back: int, ahead: int) -> None:
    parser.add_argument("--start", type=iso_date, metavar="YYYY-MM-DD",
                        help=f"first ex-date of the window (default: today in New York - {back} days)")
    parser.add_argument("--end", type=iso_date, metavar="YYYY-MM-DD",
                        help=f"last ex-date of the window, inclusive (default: today in New York + {ahead} days)")


def window(args: argparse.Namespace, back: int, ahead: int) -> tuple[dt.date, dt.date]:
    """The [start, end] ex-date window from --start/--end and the defaults; ConfigError if absurd."""
    today = exchange_today()
    start = args.start or today - dt.timedelta(days=back)
    end = args.end or today + dt.timedelta(days=ahead)
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise ConfigError(f"window {start}..{end} is longer than {MAX_WINDOW_DAYS} days")
    return start, end


def symbol_list(text: str) -> list[str]:
    """"ULTY,msty" -> ["ULTY", "MSTY"]; a bad symbol is a usage error."""
    symbols = []
    for part in text.split(","):
        try:
            symbols.append(normalize.symbol(part))
        except normalize.InvalidValue as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return list(dict.fromkeys(symbols))


@dataclass(frozen=True)
class Page:
    """One page of a run: `key` is what the job needs to fetch it again another night
    (a date, a ticker, a detail_key), `url` what the log names."""

    key: str
    url: str
    carried: bool = False  # skipped on an earlier night, fetched again on this one


@dataclass(frozen=True)
class SkippedPage:
    page: Page
    reason: str


class SystemicFailure(DivpipeError):
    """Too many of a run's pages failed: the site changed or is down."""


@dataclass
class Harvest:
    """Everything a run collected before writing."""

    records: list[Dividend] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # Valid rows left out on purpose (outside the window, status "estimated"...), by reason.
    left_out: dict[str, int] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)  # every page fetched through `Fetcher.pages`
    skipped: list[SkippedPage] = field(default_factory=list)
    # Extra parts of the summary line ("3 dates not available").
    notes: list[str] = field(default_factory=list)

    def add(self, result: ParseResult[Any]) -> None:
        self.records.extend(result.records)
        self.rejected.extend(result.rejected)

    def leave_out(self, reason: str, count: int = 1) -> None:
        if count:
            self.left_out[reason] = self.left_out.get(reason, 0) + count


class Fetcher:
    """GETs through the source's HTTP client, on a bounded pool of the source's workers.

    The client enforces the requests-per-second limit and retries; this only
    bounds how many requests are in flight.
    """

    def __init__(self, source: str):
        self.source = source
        self.client = net.client(source)
        self.workers = get_settings().workers(source)

    def get(self, url: str) -> bytes:
        return self.client.get(url).content

    def get_parsed(self, url: str, parse: Callable[[bytes], R]) -> R:
        """parse(body of url). The client fetches a body that does not parse again
        (a garbled one now and then is a CDN's fault) and raises the SourceFormatError
        of a page whose shape really changed."""
        return self.client.get(url, validate=parse).validated

    def pages(self, harvest: Harvest, items: Sequence[T], page_of: Callable[[T], Page],
              fn: Callable[[T], R]) -> list[tuple[T, R]]:
        """(item, fn(item)) for every item whose page fetched and parsed.

        A page that failed for good (FetchError, SourceFormatError) is noted in
        `harvest.skipped` and left out; any other error stops the run.
        """
        def attempt(item: T) -> tuple[bool, Any]:
            try:
                return True, fn(item)
            except (FetchError, SourceFormatError) as err:
                return False, str(err)

        done = []
        for item, (ok, value) in zip(items, self.map(items, attempt), strict=True):
            page = page_of(item)
            harvest.pages.append(page)
            if ok:
                done.append((item, value))
            else:
                harvest.skipped.append(SkippedPage(page, value))
        return done

    def map(self, items: Sequence[T], fn: Callable[[T], R]) -> list[R]:
        """fn(item) for every item, concurrently; the first error stops the run and is raised."""
        results: dict[int, R] = {}
        indexed = list(enumerate(items))
        for outcome in fanout(indexed, lambda pair: (pair[0], fn(pair[1])), workers=self.workers,
                              name=self.source, fatal=(Exception,), progress_every=50):
            index, value = outcome.value  # type: ignore[misc]
            results[index] = value
        return [results[i] for i in range(len(indexed))]


def by_page(record: Dividend) -> Any:
    """The default listing a record's `seq` is counted in: the page it came from."""
    return record.source_url


def unique_by_key(harvest: Harvest, source: str, listing: Callable[[Dividend], Any] = by_page) -> list[Dividend]:
    """One record per key: a single upsert cannot touch a row twice.

    Distributions are numbered within their listing first (`distributions.numbered`).
    The same distribution from two listings (two CBOE notices) is kept once when
    the values agree; a repeat with different values is rejected, since we
    cannot tell which is right.
    """
    kept: dict[tuple, Dividend] = {}
    for record in distributions.numbered(harvest.records, listing):
        first = kept.get(record.key)
        if first is None:
            kept[record.key] = record
        elif _values(first) != _values(record):
            harvest.rejected.append(Rejected.of(record.row(), f"conflicts with another {source} row "
                                                              f"for {record.symbol} {record.ex_date}"))
    return list(kept.values())


def _values(record: Dividend) -> dict[str, Any]:
    # The page a row came from does not make it a different row.
    row = record.row()
    row.pop("source_url", None)
    return row


def _log_rejected(source: str, rejected: Iterable[Rejected]) -> None:
    for item in rejected:
        log.warning("⚠️ %s: rejected row %s: %s", source, item.row, item.reason)


def _print_records(records: Iterable[Dividend]) -> None:
    for record in records:
        print(json.dumps(record.row(), default=str, sort_keys=True))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _http_counts() -> tuple[int, int]:
    counts = net.stats().values()
    return sum(c["requests"] for c in counts), sum(c["retries"] for c in counts)


def carried_pages(conn, source: str) -> list[Page]:
    """Pages of `source` skipped on earlier nights, to fetch again (none on a dry run)."""
    if conn is None:
        return []
    from divpipe.db.failures import database_errors

    with database_errors(f"reading {SKIPPED_TABLE}"), conn.cursor() as cur:
        cur.execute(f"SELECT page, url FROM {SKIPPED_TABLE} WHERE source = %s ORDER BY page", (source,))
        pages = [Page(key, url, carried=True) for key, url in cur.fetchall()]
    conn.rollback()  # end the read-only transaction: the fetches that follow take a while
    return pages


def check_systemic(source: str, harvest: Harvest, max_ratio: float) -> None:
    """SystemicFailure when more than `max_ratio` of this night's own pages failed.

    Pages carried over from earlier nights do not count: a page that is gone
    for good must not, night after night, add up to a failed source.
    """
    own = [p for p in harvest.pages if not p.carried]
    failed = [s for s in harvest.skipped if not s.page.carried]
    if not own or not failed:
        return
    ratio = len(failed) / len(own)
    if ratio > max_ratio or len(failed) == len(own):
        first = failed[0]
        raise SystemicFailure(
            f"{source}: {len(failed)} of {len(own)} pages failed ({ratio:.0%} > SCRAPE_MAX_FAILED_PAGE_RATIO "
            f"{max_ratio:.0%}), the source looks down or changed; first: {first.page.url}: {first.reason}")


def _write(conn, table: str, records: list[Dividend], source: str, harvest: Harvest,
           natural_key: str | None = None):
    """Records, skipped pages and recovered pages, in one transaction."""
    from divpipe.db.failures import database_errors
    from divpipe.db.upsert import bulk_upsert

    if natural_key and records:
        _move_corrected(conn, table, records, natural_key)
    result = bulk_upsert(conn, table, (r.row() for r in records), KEY, commit=False)
    failed = {s.page.key: s for s in harvest.skipped}
    parsed = [p.key for p in harvest.pages if p.key not in failed]
    with database_errors(f"writing {SKIPPED_TABLE}"), conn, conn.cursor() as cur:
        if parsed:
            cur.execute(f"DELETE FROM {SKIPPED_TABLE} WHERE source = %s AND page = ANY(%s)", (source, parsed))
        for skipped in failed.values():
            cur.execute(
                f"INSERT INTO {SKIPPED_TABLE} AS t (source, page, url, reason) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (source, page) DO UPDATE SET url = EXCLUDED.url, reason = EXCLUDED.reason,"
                " failures = t.failures + 1, last_failed_at = now()",
                (source, skipped.page.key, skipped.page.url, skipped.reason[:1000]))
    return result


def _move_corrected(conn, table: str, records: list[Dividend], natural_key: str) -> None:
    """Delete the stored rows whose source id comes back under another key.

    A source that names each distribution (Polygon's `id`) may correct its
    ex-date or type: the row must move, not stay beside a new one. Same
    transaction as the upsert that writes it again (no commit here).
    """
    from divpipe.db.failures import database_errors

    ids = [getattr(r, natural_key) for r in records]
    keys = [list(r.key) for r in records]
    with database_errors(f"writing {table}"), conn.cursor() as cur:
        cur.execute(
            f"DELETE FROM {table} t USING unnest(%s::text[], %s::text[], %s::date[], %s::text[], %s::smallint[])"
            f" AS n(id, symbol, ex_date, distribution_type, seq)"
            f" WHERE t.{natural_key} = n.id AND (t.symbol, t.ex_date, t.distribution_type, t.seq)"
            f" IS DISTINCT FROM (n.symbol, n.ex_date, n.distribution_type, n.seq)",
            (ids, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys]))


def run(
    source: str,
    table: str,
    args: argparse.Namespace,
    collect: Callable[[Fetcher, Any], Harvest],
    listing: Callable[[Dividend], Any] = by_page,
    natural_key: str | None = None,
) -> int:
    """Collect with `collect(fetcher, conn)`, write once, print the summary line; return the exit code.

    `conn` is None on a dry run. The database is opened before anything is
    fetched, so an unreachable database fails fast instead of after the crawl.
    `listing` says which records a distribution's `seq` is counted among.
    `natural_key` names a column holding the source's own id of a distribution:
    a stored row whose id comes back under another key is moved, not duplicated.
    """
    setup_logging(getattr(args, "verbose", False))
    started = time.monotonic()
    conn = None
    write_rejected = 0  # rows the write path refused (a value that fits no column)
    try:
        if not args.dry_run:
            from divpipe.db.connect import connect

            conn = connect()
        harvest = collect(Fetcher(source), conn)
        for skipped in harvest.skipped:
            log.warning("⚠️ %s: skipped %s: %s", source, skipped.page.url, skipped.reason)
        check_systemic(source, harvest, get_settings().scrape_max_failed_page_ratio)
        records = unique_by_key(harvest, source, listing)
        _log_rejected(source, harvest.rejected)
        for reason, count in sorted(harvest.left_out.items()):
            log.info("%s: %d left out: %s", source, count, reason)
        if args.dry_run:
            _print_records(records)
            written = "dry run, nothing written"
        else:
            result = _write(conn, table, records, source, harvest, natural_key)
            written = f"{result.inserted} inserted, {result.updated} updated"
            write_rejected = result.rejected
            if result.nulled:
                written += f", {result.nulled} bad values left NULL"
    except DivpipeError as err:
        requests, _ = _http_counts()
        print(f"❌ {err} [{source}: {_count(requests, 'request')}, nothing written, "
              f"{time.monotonic() - started:.1f}s]", file=sys.stderr)
        return err.exit_code
    finally:
        if conn is not None:
            conn.close()
    requests, retries = _http_counts()
    retried = f" ({retries} retried)" if retries else ""
    extra = "".join(f", {note}" for note in harvest.notes)
    if harvest.skipped:
        extra += f", {_count(len(harvest.skipped), 'page')} skipped"
    mark = "⚠️" if harvest.skipped else "✅"
    print(f"{mark} {source}: {_count(requests, 'request')}{retried}, {_count(len(records), 'record')} parsed, "
          f"{written}, {len(harvest.rejected) + write_rejected} rejected{extra} in {time.monotonic() - started:.1f}s")
    return 0
