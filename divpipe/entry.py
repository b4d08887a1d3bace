"""What every entry point shares: logging set-up and the exit-code contract."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from divpipe.errors import EXIT_FAILURE, DivpipeError


def setup_logging(verbose: bool = False) -> None:
    """Log lines to stderr, naming the thread so concurrent work can be followed."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # Libraries that are chatty at INFO.
    for noisy in ("urllib3", "pgserver", "yfinance", "peewee", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Call `main(argv)`; turn a DivpipeError into its one-line message and exit code."""
    try:
        return main(sys.argv[1:] if argv is None else argv)
    except DivpipeError as err:
        print(f"❌ {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("❌ interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
