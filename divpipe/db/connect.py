"""One way to reach the database: DATABASE_URL if set, the embedded server otherwise."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg2
import psycopg2.errors

from divpipe.config import Settings, get_settings
from divpipe.db import embedded
from divpipe.db.failures import first_line, rollback_quietly
from divpipe.errors import DatabaseError

log = logging.getLogger(__name__)

_migrated: set[str] = set()
_last_migrated: str | None = None


_DSN_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The connection string with any password replaced by ***, safe for logs and terminals.

    libpq takes a password in the URL's user part, in a `password=` query
    parameter, or in a key=value DSN: all three are masked.
    """
    if "://" not in url:
        return _DSN_PASSWORD.sub(r"\1***", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, password = userinfo.partition(":")
        if colon and password:
            netloc = f"{user}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() == "password" for key, _ in pairs):
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="/*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def database_url(settings: Settings | None = None) -> str:
    """The libpq URL of the pipeline's database, starting the embedded server if needed."""
    settings = settings or get_settings()
    if settings.database_url:
        DatabaseError.database = mask_url(settings.database_url)
        return settings.database_url
    DatabaseError.database = f"embedded PostgreSQL in {settings.embedded_pgdata}"
    admin = embedded.start_or_join(settings.embedded_pgdata)
    _ensure_database(admin, embedded.DATABASE)
    return embedded.with_database(admin, embedded.DATABASE)


def existing_database_url(settings: Settings | None = None) -> str:
    """Like database_url, for commands that only read: they never create an embedded database."""
    settings = settings or get_settings()
    if not settings.database_url and not (settings.embedded_pgdata / "PG_VERSION").exists():
        raise DatabaseError(
            f"no database yet: nothing under {settings.embedded_pgdata} "
            "(run ./daily_update_v3_parallel.sh, or --simulate and then add --simulate here)"
        )
    return database_url(settings)


def _ensure_database(admin_url: str, name: str) -> None:
    conn = _connect_raw(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return
            try:
                cur.execute(f'CREATE DATABASE "{name}"')
            except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                pass  # another process created it between our check and our CREATE
    finally:
        conn.close()


def _connect_raw(url: str):
    try:
        return psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as err:
        raise DatabaseError(f"cannot connect to {mask_url(url)}: {first_line(err)}") from err


def connect(settings: Settings | None = None, *, migrate: bool = True, create: bool = True):
    """A psycopg2 connection to the pipeline's database, migrations applied.

    create=False: a command that only reads fails with one line instead of
    starting a new, empty embedded database.
    """
    url = database_url(settings) if create else existing_database_url(settings)
    if migrate and url not in _migrated:
        from divpipe.db.migrate import migrate as apply_migrations

        apply_migrations(url)
        _migrated.add(url)
    if migrate:
        global _last_migrated
        _last_migrated = url
    return _connect_raw(url)


def migrated_url() -> str | None:
    """The database this process last connected to with migrations applied, if any.

    divpipe.net keeps the shared rate-limit state there (table rate_limits).
    """
    return _last_migrated


@contextmanager
def transaction(settings: Settings | None = None):
    """A connection whose work is committed on success and rolled back on any error."""
    conn = connect(settings)
    try:
        yield conn
        conn.commit()
    except BaseException:
        rollback_quietly(conn)
        raise
    finally:
        conn.close()
