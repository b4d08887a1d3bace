"""The errors the pipeline raises on purpose, and the exit code each one means.

Entry points catch `DivpipeError` once (see `divpipe.entry`) and print its
one-line message; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75


class DivpipeError(Exception):
    """Base class: carries the exit code its entry point should return."""

    exit_code = EXIT_FAILURE


class ConfigError(DivpipeError):
    """A setting or a command-line argument is invalid."""

    exit_code = EXIT_USAGE


class DatabaseError(DivpipeError):
    """The database cannot be reached or refused a statement. Always fatal.

    Its message names the database (password masked) wherever it is printed:
    `divpipe.db.connect` sets `database` once it knows which one this process uses.
    """

    database: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        where = DatabaseError.database
        return f"{text} (database {where})" if where and where not in text else text


class FetchError(DivpipeError):
    """An HTTP request failed for good, after its retries.

    The message names the host, the path and the last status; never a query
    string (it may carry a token) and never a header.
    """

    def __init__(self, host: str, path: str, status: int | str | None, reason: str = ""):
        self.host, self.path, self.status = host, path, status
        detail = f" ({reason})" if reason else ""
        super().__init__(f"giving up on {host}{path}: last status {status}{detail}")


class SourceFormatError(DivpipeError):
    """A page or payload no longer has the shape its parser expects."""

    def __init__(self, source: str, url: str, what: str):
        self.source, self.url, self.what = source, url, what
        super().__init__(f"{source}: unexpected response from {url}: {what}")


class ExportError(DivpipeError):
    """The Parquet export or its upload failed: disk, S3 endpoint, credentials, bucket."""
