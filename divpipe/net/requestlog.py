"""Requests sent per host per second, for the picture of a run.

Every request waits for its host's limiter, which counts it here when it lets
it go. When the driver names its state directory (DIVPIPE_RUN_STATE_DIR),
each process writes its counts there at exit, as requests_<pid>.json, and
`runs finish` adds them up into the run's summary. Counting is a dictionary
increment under a lock: it costs nothing next to a request.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections import Counter
from pathlib import Path

from divpipe.atomic import write_text_atomically

ENV = "DIVPIPE_RUN_STATE_DIR"
PREFIX = "requests_"

_lock = threading.Lock()
_counts: Counter[tuple[str, int]] = Counter()
_registered = False


def count(host: str, when: float) -> None:
    """One request to `host` (a limiter key) sent at epoch second `when`."""
    global _registered
    with _lock:
        _counts[(host, int(when))] += 1
        if not _registered and os.environ.get(ENV):
            atexit.register(write, Path(os.environ[ENV]))
            _registered = True


def snapshot() -> dict[str, dict[int, int]]:
    with _lock:
        found: dict[str, dict[int, int]] = {}
        for (host, second), n in _counts.items():
            found.setdefault(host, {})[second] = n
        return found


def write(state_dir: Path) -> None:
    """This process's counts as requests_<pid>.json; a failure costs only the picture."""
    counts = snapshot()
    if not counts:
        return
    try:
        write_text_atomically(state_dir / f"{PREFIX}{os.getpid()}.json", json.dumps(counts))
    except OSError:
        pass


def merge(state_dir: Path) -> dict[str, dict[int, int]]:
    """Every process's counts in `state_dir`, added up: {host: {epoch second: requests}}."""
    total: dict[str, Counter[int]] = {}
    for path in sorted(state_dir.glob(f"{PREFIX}*.json")):
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a process killed while writing: its counts are lost, not the run
        for host, seconds in counts.items():
            bucket = total.setdefault(host, Counter())
            for second, n in seconds.items():
                bucket[int(second)] += int(n)
    return {host: dict(sorted(seconds.items())) for host, seconds in sorted(total.items())}


def per_second_since(counts: dict[str, dict[int, int]], start: float) -> dict[str, list[list[int]]]:
    """For the summary: {host: [[seconds after `start`, requests], ...]}."""
    origin = int(start)
    return {host: [[second - origin, n] for second, n in seconds.items()] for host, seconds in counts.items()}
