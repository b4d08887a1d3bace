"""PostgreSQL client programs for the backup: which ones to use and how to connect them.

- pg_dump must be at least as new as the server (an older one refuses to
  dump); pg_restore must come from the same installation as the pg_dump that
  wrote the archive. The system's client may be older than the embedded
  server, whose wheel ships its own binaries: both are candidates, and the
  oldest one that is new enough wins (the closest match to the server).
- The connection reaches the programs through libpq's environment variables,
  the password through a 0600 password file: nothing secret is ever on a
  command line (visible in `ps`) or in a log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2.extensions import parse_dsn

from divpipe.errors import ConfigError, DivpipeError

# libpq connection parameters and the environment variable each one has.
_PARAM_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcompression": "PGSSLCOMPRESSION",
    "requirepeer": "PGREQUIREPEER",
    "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "krbsrvname": "PGKRBSRVNAME",
}
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class PgTools:
    """pg_dump and pg_restore of one installation."""

    bin_dir: Path
    major: int
    version: str  # as printed by --version, e.g. "16.4"

    @property
    def pg_dump(self) -> Path:
        return self.bin_dir / "pg_dump"

    @property
    def pg_restore(self) -> Path:
        return self.bin_dir / "pg_restore"

    def describe(self) -> str:
        return f"{self.pg_dump} (PostgreSQL {self.version})"


def parse_version(text: str) -> tuple[int, str] | None:
    """'pg_dump (PostgreSQL) 16.4 (Debian 16.4-1)' -> (16, '16.4')."""
    match = _VERSION.search(text)
    if not match:
        return None
    major = int(match.group(1))
    return major, match.group(0).split()[-1]


def choose_tools(candidates: list[PgTools], server_major: int) -> PgTools:
    """The oldest candidate at least as new as the server; first listed wins a tie."""
    usable = [tools for tools in candidates if tools.major >= server_major]
    if not usable:
        found = ", ".join(c.describe() for c in candidates) or "none"
        raise DivpipeError(
            f"no pg_dump at least as new as the server (PostgreSQL {server_major}); found: {found}"
        )
    return min(usable, key=lambda tools: tools.major)


def _bundled_bin_dir() -> Path | None:
    try:
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (cron); harmless here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except Exception:  # noqa: BLE001 - pgserver missing or broken: the system's tools may still do
        return None
    return Path(POSTGRES_BIN_PATH)


def candidate_bin_dirs() -> list[Path]:
    """Directories that may hold pg_dump: PATH's, Debian's versioned ones, pgserver's wheel."""
    dirs: list[Path] = []
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    bundled = _bundled_bin_dir()
    if bundled:
        dirs.append(bundled)
    unique: list[Path] = []
    for path in dirs:
        if path not in unique:
            unique.append(path)
    return unique


def probe(bin_dir: Path) -> PgTools | None:
    """The installation in `bin_dir`, or None when it lacks pg_dump or pg_restore."""
    dump, restore = bin_dir / "pg_dump", bin_dir / "pg_restore"
    if not (os.access(dump, os.X_OK) and os.access(restore, os.X_OK)):
        return None
    try:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # it may hold a password
        out = subprocess.run([str(dump), "--version"], capture_output=True, text=True, timeout=30,
                             check=True, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parsed = parse_version(out)
    if parsed is None:
        return None
    return PgTools(bin_dir, *parsed)


def find_tools(server_major: int) -> PgTools:
    candidates = [tools for tools in map(probe, candidate_bin_dirs()) if tools is not None]
    return choose_tools(candidates, server_major)


def escape_passfile_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def libpq_params(url: str) -> dict[str, str]:
    """The connection parameters of a libpq URL or key=value string. ConfigError if unusable."""
    try:
        params = parse_dsn(url)
    except psycopg2.ProgrammingError:
        # Its message may echo the URL, password included: say less, and drop the cause.
        raise ConfigError("DATABASE_URL: not a valid libpq connection string") from None
    unknown = sorted(set(params) - set(_PARAM_ENV) - {"password"})
    if unknown:
        raise ConfigError(f"DATABASE_URL: parameter(s) {', '.join(unknown)} not supported by the backup")
    return params


@contextmanager
def libpq_environment(url: str, base: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Environment for pg_dump/pg_restore/psql connecting to `url`; the password in a 0600 file.

    Inherited PG* variables are dropped so they cannot redirect the programs,
    and DATABASE_URL so the password does not reach them twice. The password
    file lives in a private temporary directory removed on exit.
    """
    params = libpq_params(url)
    inherited = os.environ if base is None else base
    env = {k: v for k, v in inherited.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    for key, value in params.items():
        if key != "password":
            env[_PARAM_ENV[key]] = value
    password = params.get("password")
    if not password:
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="divpipe-pg-") as tmp:
        passfile = Path(tmp) / "pgpass"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:*:{escape_passfile_field(password)}\n")
        env["PGPASSFILE"] = str(passfile)
        yield env
