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
    stop_with_driver()
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


# The nightly drivers export their pid to every task they start.
DRIVER_PID_ENV = "DIVPIPE_DRIVER_PID"


def _started_at(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def stop_with_driver(poll_seconds: float = 1.0) -> None:
    """Stop this task, with its process group, soon after the driver that started it dies.

    Tasks run in their own sessions so that the driver can signal each one's
    group; a SIGKILLed driver runs no trap, and its tasks would go on for
    minutes against a dead simulator, holding the run lock. The driver's
    start time tells it apart from a new process that reuses its pid.
    """
    raw = os.environ.get(DRIVER_PID_ENV, "")
    if not raw.isdigit():
        return
    driver = int(raw)
    started = _started_at(driver)

    def watch() -> None:
        while started is not None and _started_at(driver) == started:
            time.sleep(poll_seconds)
        print(f"❌ the driver that started this task (pid {driver}) is gone: stopping", file=sys.stderr,
              flush=True)
        # The whole group only when it is the task's own (the driver starts each task with setsid).
        if os.getsid(0) == os.getpgrp():
            os.killpg(os.getpgrp(), signal.SIGTERM)
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()
