"""Progress of writing or uploading files: a tqdm bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import threading
import time

log = logging.getLogger("divpipe.export")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


class FileProgress:
    """Counts files and bytes from any thread. Logs at about every tenth of the files when not a tty."""

    def __init__(self, label: str, total_files: int, total_bytes: int | None = None, *,
                 tty: bool | None = None):
        self.label, self.total_files, self.total_bytes = label, total_files, total_bytes
        self.files = self.bytes = self.failed = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._every = max(1, total_files // 10)
        self._bar = None
        if total_files and (tty if tty is not None else sys.stderr.isatty()):
            from tqdm import tqdm

            self._bar = tqdm(total=total_bytes or total_files, desc=label, file=sys.stderr,
                             unit="B" if total_bytes else "file", unit_scale=bool(total_bytes),
                             dynamic_ncols=True)

    def advance(self, size: int = 0, *, failed: bool = False) -> None:
        with self._lock:
            self.files += 1
            self.bytes += size
            self.failed += failed
            if self._bar is not None:
                self._bar.update(size if self.total_bytes else 1)
                self._bar.set_postfix_str(f"{self.files}/{self.total_files} files", refresh=False)
            elif self.files % self._every == 0 or self.files == self.total_files:
                log.info("%s", self.line())

    def line(self) -> str:
        seconds = max(time.monotonic() - self._started, 1e-9)
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"{self.label}: {self.files}/{self.total_files} files, {human_bytes(self.bytes)}{failed}, "
                f"{self.files / seconds:.1f} files/s")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
