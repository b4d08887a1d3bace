"""Dispatch `update_stock_v2.py --mode X` to the job module that owns mode X.

Each job module provides `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import importlib

from divpipe.entry import ArgumentParser, setup_logging
from divpipe.entry import run as run_entry

MODES = {
    "update": "divpipe.jobs.update",
    "backfill": "divpipe.jobs.backfill",
    "discover": "divpipe.jobs.discover",
    "refresh-companies": "divpipe.jobs.companies",
    "update-holdings": "divpipe.jobs.holdings",
    "future-dividends": "divpipe.jobs.future_dividends",
}


def _main(argv: list[str]) -> int:
    first = ArgumentParser(add_help=False)
    first.add_argument("--mode", choices=sorted(MODES))
    known, _ = first.parse_known_args(argv)
    parser = ArgumentParser(
        prog="update_stock_v2.py",
        description="divpipe main update and post-update jobs",
    )
    parser.add_argument("--mode", required=True, choices=sorted(MODES), help="which job to run")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    module = importlib.import_module(MODES[known.mode]) if known.mode else None
    if module is not None:
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return module.run(args)


def main(argv: list[str]) -> int:
    return run_entry(_main, argv)
