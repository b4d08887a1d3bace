"""One settings object, read from the environment and the project's `.env`.

Every tunable of the pipeline is declared once in `FIELDS`: its environment
variable, its type, its default and a one-line description. docs/configuration.md's
configuration table and `.env.example` are checked against this list by the
tests, so a setting cannot exist without being documented.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from divpipe.errors import ConfigError
from divpipe.sources import registry

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Simulated runs keep their database under DIVPIPE_DATA_DIR/simulate and logs under LOG_DIR/simulate.
SIMULATE_SUBDIR = "simulate"

# Sources that have their own rate limit and worker count: every source of the registry.
SOURCES = registry.NAMES


@dataclass(frozen=True)
class Field:
    env: str
    kind: str  # "str", "path", "url", "int", "float", "bool"
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


def _source_fields() -> list[Field]:
    # Defaults live in the registry. Yahoo publishes no limit; ~1-5 requests/s
    # per IP is the usual advice. The scraped sites are small public pages: a
    # couple per second.
    fields = []
    for spec in registry.SPECS:
        up = spec.name.upper()
        note = f" ({spec.rate_note})" if spec.rate_note else ""
        fields.append(Field(f"{up}_RATE_LIMIT", "float", spec.rate,
                            f"requests per second to {spec.name}, shared by every thread and process of a run"
                            f"{note}", minimum=0.01))
        fields.append(Field(f"{up}_WORKERS", "int", spec.workers,
                            f"concurrent workers for {spec.name}", minimum=1, maximum=256))
        fields.append(Field(f"{up}_MAX_BYTES", "int", spec.max_bytes,
                            f"largest response body accepted from {spec.name}, in bytes (HTTP_MAX_BYTES caps it too)",
                            minimum=1024))
    return fields


# Minutes each task of scripts/tasks.sh may run before the driver stops it:
# about three times its usual worst night (the main update over ~11,000
# symbols at YAHOO_RATE_LIMIT is ~50 min; discovery's first Sunday ~45 min).
# The scrapers' own are in the source registry.
TASK_TIMEOUTS = {
    "discovery": 150,
    **{spec.task: spec.timeout_minutes for spec in registry.SPECS if spec.task},
    "main_update": 180, "companies": 30, "holdings": 60, "future_div": 15, "backup": 60,
}
_TASK_TIMEOUT_ENV = re.compile(r"^TASK_TIMEOUT_[A-Z0-9_]+_MINUTES$")


def task_timeout_env(task: str) -> str:
    return f"TASK_TIMEOUT_{task.upper()}_MINUTES"


def _task_timeout_fields() -> list[Field]:
    return [Field(task_timeout_env(task), "float", minutes,
                  f"minutes the {task} task may run before the driver stops it (status timeout)", minimum=0.01)
            for task, minutes in TASK_TIMEOUTS.items()]


FIELDS: list[Field] = [
    Field("DIVPIPE_ENV_FILE", "path", ".env", "the dotenv file read at start-up; real environment variables win"),
    Field("DATABASE_URL", "url", None,
          "PostgreSQL server to use; unset means the embedded server under DIVPIPE_DATA_DIR/pg"),
    Field("DIVPIPE_DATA_DIR", "path", "data",
          "embedded database, yfinance caches and other state (relative paths are under the project)"),
    Field("LOG_DIR", "path", "logs", "where task logs, run logs and run summaries go"),
    Field("BACKUP_DIR", "path", "backups", "where scripts/backup_database.sh writes dumps"),
    Field("DIVPIPE_SIMULATOR_URL", "url", None,
          "send EVERY outbound request to this simulator base URL instead (tests, --simulate)"),
    Field("DIVPIPE_SIM_TRIAL", "bool", False,
          "set by --simulate (not --sim-real-rates): every host's rate limit is at least SIM_TRIAL_RATE_LIMIT"),
    Field("SIM_TRIAL_RATE_LIMIT", "float", 100.0, "requests per second per host in a --simulate trial",
          minimum=0.01),
    Field("HTTP_CONNECT_TIMEOUT", "float", 5.0, "seconds to wait for a TCP/TLS connection", minimum=0.1),
    Field("HTTP_READ_TIMEOUT", "float", 20.0, "seconds to wait for response data", minimum=0.1),
    Field("HTTP_RETRIES", "int", 4, "retries after the first attempt on 429, 5xx, timeouts and resets",
          minimum=0, maximum=20),
    Field("HTTP_BACKOFF", "float", 1.0, "base of the exponential retry backoff, in seconds", minimum=0.0),
    Field("HTTP_TOTAL_TIMEOUT", "float", 60.0,
          "seconds a whole response may take, however steadily its bytes trickle in", minimum=1.0),
    Field("HTTP_MAX_BYTES", "int", 20_000_000, "largest response body accepted from any source, in bytes",
          minimum=1024),
    Field("RATE_LIMIT_BURST", "int", 2, "requests a host may receive at once above its steady rate",
          minimum=1, maximum=1000),
    Field("RATE_LIMIT_RECOVER_SECONDS", "float", 30.0,
          "after repeated 429s lowered a host's rate, seconds per step of 10 % back up", minimum=1.0),
    Field("RATE_LIMIT_REDIS_URL", "url", None,
          "keep the shared rate-limit state in this Redis (redis://...) instead of the database"),
    Field("RATE_LIMIT_REDIS_PREFIX", "str", "divpipe:ratelimit:", "prefix of the Redis keys of that state"),
    *_source_fields(),
    # Secrets: read from the environment or .env only, sent only in an Authorization header,
    # never logged, never on a command line.
    Field("MASSIVE_API_KEY", "str", None,
          "Massive (formerly Polygon.io) API key; set, the night fetches Polygon's dividends (secret)"),
    Field("POLYGON_API_KEY", "str", None, "the same key under its old name, used when MASSIVE_API_KEY is unset"),
    Field("POLYGON_ENDPOINT", "str", "stocks",
          "stocks: GET /stocks/v1/dividends (5000 a page); legacy: GET /v3/reference/dividends (1000 a page)"),
    Field("SYMBOLS_FILE", "path", None,
          "a watchlist, one symbol per line (# comments): discovery adds these instead of every listed symbol"),
    Field("HISTORY_YEARS", "int", 5, "years of history fetched for a symbol seen for the first time",
          minimum=1, maximum=100),
    Field("COMPANY_MAX_AGE_DAYS", "int", 30, "company data older than this is fetched again", minimum=0),
    Field("EXCLUDE_AFTER_FAILURES", "int", 5, "consecutive failed nights before a symbol is excluded",
          minimum=1),
    Field("MAX_FAILURE_RATIO", "float", 0.2, "main update exits 1 when more symbols than this fail",
          minimum=0.0, maximum=1.0),
    Field("BACKFILL_DAYS", "int", 252, "exchange sessions a backfill covers back from the last one when no --start",
          minimum=1, maximum=25200),
    Field("BACKFILL_MERGE_SESSIONS", "int", 252,
          "a backfill asks for two gaps of a symbol in one request when at most this many stored sessions "
          "lie between them", minimum=0),
    Field("SCRAPE_MAX_FAILED_PAGE_RATIO", "float", 0.2,
          "a scraper exits 1 and writes nothing when more of its pages than this fail (fewer are skipped)",
          minimum=0.0, maximum=1.0),
    Field("UPSERT_BATCH_ROWS", "int", 5000, "rows buffered before one bulk upsert", minimum=1),
    Field("LOG_RETENTION_DAYS", "int", 30, "task and run logs older than this are deleted", minimum=1),
    Field("BACKUP_KEEP_DAYS", "int", 14, "backups older than this are deleted (the newest good one never)",
          minimum=1),
    Field("FORCE_RUN", "bool", False, "run even when the NYSE was closed today"),
    Field("DRIVER_OVERLAP", "bool", False,
          "v3 starts each task when the tasks it needs have finished, not phase by phase (--overlap)"),
    Field("ALERT_COMMAND", "str", None, "run with the summary JSON path as argument when a run fails"),
    Field("PRICE_COVERAGE_WARN", "float", 0.80, "price coverage below this fraction is a warning",
          minimum=0.0, maximum=1.0),
    Field("PRICE_COVERAGE_CRIT", "float", 0.50, "price coverage below this fraction fails the run",
          minimum=0.0, maximum=1.0),
    Field("DIVIDEND_COVERAGE_WARN", "float", 0.30,
          "share of tracked symbols with a dividend in the last year below which to warn",
          minimum=0.0, maximum=1.0),
    Field("DIVIDEND_COVERAGE_CRIT", "float", 0.10, "dividend coverage below this fails the run",
          minimum=0.0, maximum=1.0),
    Field("STALE_SYMBOLS_WARN", "float", 0.20,
          "share of symbols not updated in 48 h above which to warn", minimum=0.0, maximum=1.0),
    Field("STALE_SYMBOLS_CRIT", "float", 0.50, "share of stale symbols above which the run fails",
          minimum=0.0, maximum=1.0),
    Field("MISSING_COMPANY_WARN", "float", 0.20,
          "share of symbols without a company name above which to warn", minimum=0.0, maximum=1.0),
    Field("MISSING_COMPANY_CRIT", "float", 0.60,
          "share of symbols without a company name above which the run fails", minimum=0.0, maximum=1.0),
    Field("EXPORT_TARGET", "str", None,
          "where `python -m divpipe export` writes: a directory or s3://bucket/prefix; set, the night exports too"),
    Field("EXPORT_STAGING_DIR", "str", None,
          "local copy of the lake uploaded to an s3:// target; unset means DIVPIPE_DATA_DIR/export"),
    Field("EXPORT_WORKERS", "int", 8, "files uploaded at the same time", minimum=1, maximum=64),
    Field("EXPORT_MAX_FILE_ROWS", "int", 1_000_000, "a partition with more rows is split into several files",
          minimum=1),
    Field("EXPORT_MULTIPART_MB", "int", 16, "files from this size on upload in parts of this size (MiB)",
          minimum=5, maximum=5120),
    Field("S3_ENDPOINT_URL", "url", None,
          "S3-compatible endpoint for s3:// export targets; unset means AWS. Credentials: the AWS chain only"),
    Field("DIVPIPE_TASKS_FILE", "path", "scripts/tasks.sh",
          "the task list the drivers run (tests point it at fake tasks)"),
    Field("DIVPIPE_PROGRESS_SECONDS", "float", 5, "seconds between the drivers' progress lines", minimum=0.1),
    Field("DIVPIPE_STOP_GRACE_SECONDS", "float", 10,
          "on TERM/INT, seconds the drivers wait before KILLing tasks that ignore TERM", minimum=0.0),
    Field("TASK_TIMEOUT_MINUTES", "float", 120,
          "minutes a task without its own TASK_TIMEOUT_<TASK>_MINUTES may run before the driver stops it",
          minimum=0.01),
    *_task_timeout_fields(),
    Field("ALERT_TOTAL_MINUTES", "float", 90, "warn when the whole run takes longer", minimum=0.0),
    Field("ALERT_PHASE1_MINUTES", "float", 20, "warn when phase 1 takes longer", minimum=0.0),
    Field("ALERT_PHASE2_MINUTES", "float", 25, "warn when phase 2 takes longer", minimum=0.0),
]

_BY_ENV = {f.env: f for f in FIELDS}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse(field: Field, raw: str) -> Any:
    raw = raw.strip()
    if field.kind in ("str", "url", "path") and raw == "":
        return None
    if field.kind == "str":
        return raw
    if field.kind == "path":
        path = Path(raw).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path
    if field.kind == "url":
        try:
            parts = urlsplit(raw)
            port = parts.port  # a port that is not a number raises here
        except ValueError as err:
            raise ConfigError(f"{field.env}: not a valid URL ({err})") from None
        if not parts.scheme or not (parts.netloc or parts.query or parts.path):
            raise ConfigError(f"{field.env}: not a URL")
        if field.env == "DATABASE_URL":
            _check_database_url(raw, parts.scheme, port)
        return raw
    if field.kind == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{field.env}: expected true or false, got {raw!r}")
    convert: Callable[[str], Any] = int if field.kind == "int" else float
    try:
        value = convert(raw)
    except ValueError:
        raise ConfigError(f"{field.env}: expected a number, got {raw!r}") from None
    if field.minimum is not None and value < field.minimum:
        raise ConfigError(f"{field.env}: {value} is below the minimum {field.minimum}")
    if field.maximum is not None and value > field.maximum:
        raise ConfigError(f"{field.env}: {value} is above the maximum {field.maximum}")
    return value


def _check_database_url(raw: str, scheme: str, port: int | None) -> None:
    """What libpq would refuse at connect time, refused now as bad configuration (exit 2).

    Messages never repeat the URL: it may carry a password.
    """
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL: scheme must be postgresql://, got {scheme}://")
    if port == 0:
        raise ConfigError("DATABASE_URL: port 0 is not a port")
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        parse_dsn(raw)
    except psycopg2.Error as err:  # ProgrammingError: invalid dsn
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "password" in reason.lower() or "@" in reason:
            reason = "libpq cannot parse it"
        raise ConfigError(f"DATABASE_URL: not a valid connection URL ({reason})") from None


class Settings:
    """Resolved settings. Attribute names are the lower-cased variable names."""

    def __init__(self, values: dict[str, Any]):
        self._values = values
        for env, value in values.items():
            setattr(self, env.lower(), value)

    def rate_limit(self, source: str) -> float:
        configured = self._values[f"{source.upper()}_RATE_LIMIT"]
        if self._values["DIVPIPE_SIM_TRIAL"]:
            # The real sites' politeness means nothing to a local simulator: a trial runs fast.
            return max(configured, self._values["SIM_TRIAL_RATE_LIMIT"])
        return configured

    def workers(self, source: str) -> int:
        return self._values[f"{source.upper()}_WORKERS"]

    def task_timeout_seconds(self, task: str) -> float:
        minutes = self._values.get(task_timeout_env(task))
        return 60.0 * (minutes if minutes is not None else self._values["TASK_TIMEOUT_MINUTES"])

    def max_bytes(self, source: str) -> int:
        """The body cap for `source`: its own, never above HTTP_MAX_BYTES."""
        own = self._values.get(f"{source.upper()}_MAX_BYTES")
        return min(own, self.http_max_bytes) if own else self.http_max_bytes

    @property
    def embedded_pgdata(self) -> Path:
        return self.divpipe_data_dir / "pg"

    def for_simulation(self) -> Settings:
        """What a `--simulate` run uses: its own embedded database, logs and backups.

        A trial must never mix with real data, so DATABASE_URL is ignored. The
        drivers get these folders from `python -m divpipe config --shell --simulate`.
        """
        data_dir = self.divpipe_data_dir / SIMULATE_SUBDIR
        return Settings({
            **self._values,
            "DATABASE_URL": None,
            "DIVPIPE_DATA_DIR": data_dir,
            "LOG_DIR": self.log_dir / SIMULATE_SUBDIR,
            "BACKUP_DIR": data_dir / "backups",
        })

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def load_dotenv_file() -> None:
    """Read the project's .env without overriding the real environment."""
    from dotenv import load_dotenv

    path = Path(os.environ.get("DIVPIPE_ENV_FILE") or PROJECT_ROOT / ".env")
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    load_dotenv(path, override=False)


def load_settings(environ: dict[str, str] | None = None, *, dotenv: bool = True) -> Settings:
    """Build settings from `environ` (default: os.environ plus .env). Raises ConfigError."""
    if environ is None:
        if dotenv:
            load_dotenv_file()
        environ = dict(os.environ)
    values = {}
    for field in FIELDS:
        raw = environ.get(field.env)
        if raw is None:
            default = field.default
            values[field.env] = _parse(field, str(default)) if field.kind == "path" and default else default
        else:
            values[field.env] = _parse(field, raw)
    # A task list of one's own (DIVPIPE_TASKS_FILE) may name other tasks: their limits too.
    for env, raw in environ.items():
        if _TASK_TIMEOUT_ENV.match(env) and env not in _BY_ENV:
            values[env] = _parse(Field(env, "float", None, "", minimum=0.01), raw)
    if values["POLYGON_ENDPOINT"] not in ("stocks", "legacy"):
        raise ConfigError(f"POLYGON_ENDPOINT: expected stocks or legacy, got {values['POLYGON_ENDPOINT']!r}")
    if values["PRICE_COVERAGE_CRIT"] > values["PRICE_COVERAGE_WARN"]:
        raise ConfigError("PRICE_COVERAGE_CRIT: must not exceed PRICE_COVERAGE_WARN")
    return Settings(values)


_cached: Settings | None = None


def get_settings() -> Settings:
    """Process-wide settings, read once."""
    global _cached
    if _cached is None:
        _cached = load_settings()
    return _cached


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    global _cached
    _cached = None


def field(env: str) -> Field:
    return _BY_ENV[env]
