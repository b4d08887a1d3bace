"""What every entry point shares: logging set-up and the exit-code contract."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from divpipe.errors import EXIT_FAILURE, ConfigError, DivpipeError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one "❌ ..." line and exit 2 (through ConfigError)."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message} (see --help)")


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


def stop_when_orphaned(poll_seconds: float = 1.0) -> None:
    """SIGTERM this process once its parent is gone.

    The drivers start long-lived helpers (the simulator, the embedded-database
    holder). If a driver is killed with SIGKILL its traps never run; the
    helpers notice they were re-parented and stop instead of lingering.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
