"""`python -m divpipe export [--to DIR | s3://bucket/prefix] [--tables ...] [--since DATE] [--full] [--verify]`."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal

from divpipe.config import get_settings
from divpipe.entry import ArgumentParser, run, setup_logging
from divpipe.errors import EXIT_FAILURE, ConfigError
from divpipe.export import datasets
from divpipe.export.job import Request, run_export, verify_target


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m divpipe export",
        description="export the database as a Hive-partitioned Parquet lake (docs/export.md)",
    )
    parser.add_argument("--to", metavar="DIR|s3://BUCKET/PREFIX",
                        help="where to write (default: EXPORT_TARGET); credentials come from the AWS chain")
    parser.add_argument("--tables", metavar="NAME,...",
                        help=f"datasets to export (default: all of {', '.join(datasets.BY_NAME)})")
    parser.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                        help="only look at partitions holding this date or later")
    parser.add_argument("--full", action="store_true", help="rewrite every partition, changed or not")
    parser.add_argument("--workers", type=int, metavar="N", help="parallel uploads (default: EXPORT_WORKERS)")
    parser.add_argument("--verify", action="store_true",
                        help="export nothing: check every file the target's _manifest.json names")
    return parser


def _stop(signum, frame) -> None:
    # The drivers stop a task with TERM: unwind like Ctrl-C, so temporary files are removed
    # and no manifest is written ("❌ interrupted", exit 130).
    raise KeyboardInterrupt


def _main(argv: list[str]) -> int:
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return _export(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _export(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    # boto3 announces at INFO where it found the credentials: noise in a nightly log.
    for noisy in ("boto3", "botocore", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = get_settings()
    target = args.to or settings.export_target
    if not target:
        raise ConfigError("export: no target: pass --to DIR or --to s3://bucket/prefix, or set EXPORT_TARGET")
    workers = args.workers if args.workers is not None else settings.export_workers
    if not 1 <= workers <= 64:
        raise ConfigError(f"export: --workers must be between 1 and 64, got {workers}")
    if args.verify:
        return verify_target(settings, target, workers)
    request = Request(target, datasets.select(args.tables), args.since, args.full, workers)
    summary = run_export(settings, request)
    if not summary.ok:
        failed = sorted(summary.upload.failed)
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        print(f"❌ {summary.line()}; failed: {shown} (retried on the next run)", flush=True)
        return EXIT_FAILURE
    print(f"✅ {summary.line()}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    return run(_main, argv)
