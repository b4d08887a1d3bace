"""What the five dividend scrapers share: arguments, fetching, validation, the write, the summary.

A scrape run is all-or-nothing. Every page is fetched and parsed first; only
when all of them are good are the records written, in ONE bulk upsert (one
transaction). A page that cannot be fetched after the HTTP layer's retries,
or whose shape changed, fails the whole run (exit 1) and nothing is written:
a half-scraped window stored as if complete would hide the failure until
someone noticed missing dividends. The next night's run fetches the window
again anyway.

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
from divpipe.errors import ConfigError, DivpipeError
from divpipe.fanout import fanout
from divpipe.market_time import exchange_today
from divpipe.sources import normalize
from divpipe.sources.records import Dividend, ParseResult, Rejected

log = logging.getLogger(__name__)

KEY = ("symbol", "ex_date")

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


@dataclass
class Harvest:
    """Everything a run collected before writing."""

    records: list[Dividend] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # Valid rows left out on purpose (outside the window, status "estimated"...), by reason.
    left_out: dict[str, int] = field(default_factory=dict)

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

    def map(self, items: Sequence[T], fn: Callable[[T], R]) -> list[R]:
        """fn(item) for every item, concurrently; the first error stops the run and is raised."""
        results: dict[int, R] = {}
        indexed = list(enumerate(items))
        for outcome in fanout(indexed, lambda pair: (pair[0], fn(pair[1])), workers=self.workers,
                              name=self.source, fatal=(Exception,), progress_every=50):
            index, value = outcome.value  # type: ignore[misc]
            results[index] = value
        return [results[i] for i in range(len(indexed))]


def unique_by_key(harvest: Harvest, source: str) -> list[Dividend]:
    """One record per (symbol, ex_date): a single upsert cannot touch a row twice.

    Exact repeats (a row on two overlapping pages) are dropped silently; a
    repeat with different values is rejected, since we cannot tell which is right.
    """
    kept: dict[tuple, Dividend] = {}
    for record in harvest.records:
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


def run(
    source: str,
    table: str,
    args: argparse.Namespace,
    collect: Callable[[Fetcher, Any], Harvest],
) -> int:
    """Collect with `collect(fetcher, conn)`, write once, print the summary line; return the exit code.

    `conn` is None on a dry run. The database is opened before anything is
    fetched, so an unreachable database fails fast instead of after the crawl.
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
        records = unique_by_key(harvest, source)
        _log_rejected(source, harvest.rejected)
        for reason, count in sorted(harvest.left_out.items()):
            log.info("%s: %d left out: %s", source, count, reason)
        if args.dry_run:
            _print_records(records)
            written = "dry run, nothing written"
        else:
            from divpipe.db.upsert import bulk_upsert

            result = bulk_upsert(conn, table, (r.row() for r in records), KEY)
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
    print(f"✅ {source}: {_count(requests, 'request')}{retried}, {_count(len(records), 'record')} parsed, {written}, "
          f"{len(harvest.rejected) + write_rejected} rejected in {time.monotonic() - started:.1f}s")
    return 0
